package client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// recorder is a daemon that answers every route of the table with an
// empty answer of its kind and records which routes were called.
type recorder struct {
	mu     sync.Mutex
	called map[string]bool
}

func newRecorder() (*recorder, *api.Router) {
	rec := &recorder{called: map[string]bool{}}
	rt := api.NewRouter(nil)
	for _, r := range api.Routes() {
		rt.Mux.HandleFunc(r.MuxPattern(), func(w http.ResponseWriter, req *http.Request) {
			rec.mu.Lock()
			rec.called[r.MuxPattern()] = true
			rec.mu.Unlock()
			switch {
			case r == api.GetVersion.Route():
				api.WriteJSON(w, http.StatusOK, api.VersionInfo{APIVersion: api.APIVersion, MinAPIVersion: api.MinAPIVersion})
			case r.Kind == api.KindJSON:
				api.WriteJSON(w, http.StatusOK, nil)
			case r.Kind == api.KindEvents || r.Kind == api.KindUpload:
				_, _ = io.Copy(io.Discard, req.Body)
				_ = api.NewEventWriter(w).Write(api.Event{Result: []byte("null")})
			case r.Kind == api.KindText:
				w.WriteHeader(http.StatusOK)
			case r.Kind == api.KindUpgrade:
				conn, err := api.Hijack(w, req, r.Protocol)
				if err != nil {
					return
				}
				if r.Protocol == api.ProtocolAttach {
					_ = api.WriteFrame(conn, api.FrameExit, []byte("0"))
				}
				_ = conn.Close()
			}
		})
	}
	return rec, rt
}

// TestEveryRouteHasAMethod: the client's methods, called once each,
// reach every endpoint of the API table: an endpoint added to the table
// without a method fails here.
func TestEveryRouteHasAMethod(t *testing.T) {
	rec, rt := newRecorder()
	c := serve(t, rt)
	ctx := ctxT(t)
	calls := []func() error{
		func() error { _, err := c.ServerVersion(ctx); return err },
		func() error { _, err := c.Info(ctx); return err },
		func() error { _, err := c.Config(ctx); return err },
		func() error { _, err := c.Doctor(ctx); return err },
		func() error { _, err := c.GC(ctx, api.GCQuery{DryRun: true}); return err },
		func() error { _, err := c.Inventory(ctx); return err },
		func() error { return c.TeardownNetwork(ctx) },
		func() error { _, err := c.CreateVM(ctx, api.CreateVMRequest{}); return err },
		func() error { _, err := c.PutVM(ctx, "dev", api.VMSpec{Image: "busybox"}); return err },
		func() error { _, err := c.ListVMs(ctx, api.ListVMsQuery{}); return err },
		func() error { _, err := c.GetVM(ctx, "dev"); return err },
		func() error { _, err := c.StartVM(ctx, "dev", api.Watch{}); return err },
		func() error { _, err := c.StopVM(ctx, "dev", api.StopVMQuery{}); return err },
		func() error { _, err := c.KillVM(ctx, "dev", api.KillVMQuery{Signal: "HUP"}); return err },
		func() error { _, err := c.RestartVM(ctx, "dev", api.StopVMQuery{}, api.Watch{}); return err },
		func() error { _, err := c.WaitVM(ctx, "dev"); return err },
		func() error { _, err := c.UpdateVM(ctx, "dev", api.UpdateVMRequest{}); return err },
		func() error { return c.RemoveVM(ctx, "dev", api.RemoveVMQuery{}) },
		func() error { _, err := c.PauseVM(ctx, "dev"); return err },
		func() error { _, err := c.UnpauseVM(ctx, "dev"); return err },
		func() error { _, err := c.RenameVM(ctx, "dev", "web"); return err },
		func() error {
			_, err := c.CommitVM(ctx, "dev", api.CommitRequest{Name: "mine"}, api.Watch{})
			return err
		},
		func() error { _, err := c.Stats(ctx); return err },
		func() error { return c.Logs(ctx, "dev", api.VMLogsQuery{}, io.Discard, io.Discard) },
		func() error { _, err := c.Attach(ctx, "dev", AttachConfig{}); return err },
		func() error {
			// The recorder hangs up after the upgrade: no SSH handshake.
			if _, err := c.OpenSession(ctx, "dev", SessionOptions{}); err == nil {
				return errors.New("a session over a hung-up connection")
			}
			return nil
		},
		func() error {
			_, err := c.PullImage(ctx, api.PullRequest{Reference: "busybox"}, api.Watch{})
			return err
		},
		func() error {
			_, err := c.ImportImage(ctx, api.ImageImportQuery{Name: "x"}, strings.NewReader("tar"), api.Watch{})
			return err
		},
		func() error {
			_, err := c.BuildImage(ctx, api.BuildImageQuery{Tag: "x"}, strings.NewReader("tar"), api.Watch{})
			return err
		},
		func() error { _, err := c.ListImages(ctx); return err },
		func() error { _, err := c.GetImage(ctx, "busybox"); return err },
		func() error { return c.RemoveImage(ctx, "busybox") },
		func() error { _, err := c.TagImage(ctx, "busybox", "mine:1"); return err },
		func() error {
			rc, err := c.SaveImages(ctx, api.SaveImagesQuery{Names: []string{"busybox"}})
			if err == nil {
				_ = rc.Close()
			}
			return err
		},
		func() error {
			_, err := c.LoadImages(ctx, api.LoadImagesQuery{}, strings.NewReader("tar"), api.Watch{})
			return err
		},
		func() error {
			_, err := c.PushImage(ctx, api.PushImageRequest{Name: "busybox"}, api.Watch{})
			return err
		},
		func() error {
			_, err := c.ImportKernel(ctx, api.KernelImportRequest{Path: "/k"}, api.Watch{})
			return err
		},
		func() error {
			_, err := c.UploadKernel(ctx, api.KernelUploadQuery{}, strings.NewReader("k"), api.Watch{})
			return err
		},
		func() error {
			_, err := c.PullKernel(ctx, api.KernelPullRequest{Ref: "debian-cloud"}, api.Watch{})
			return err
		},
		func() error { _, err := c.ListKernels(ctx); return err },
		func() error { _, err := c.GetKernel(ctx, "debian"); return err },
		func() error { return c.RemoveKernel(ctx, "debian") },
		func() error { _, err := c.CreateVolume(ctx, api.CreateVolumeRequest{}); return err },
		func() error { _, err := c.ListVolumes(ctx); return err },
		func() error { _, err := c.GetVolume(ctx, "data"); return err },
		func() error { return c.RemoveVolume(ctx, "data") },
		func() error { _, err := c.CreateNetwork(ctx, api.CreateNetworkRequest{Name: "front"}); return err },
		func() error { _, err := c.ListNetworks(ctx); return err },
		func() error { _, err := c.GetNetwork(ctx, "front"); return err },
		func() error { _, err := c.RemoveNetwork(ctx, "front"); return err },
		func() error { _, err := c.PruneNetworks(ctx); return err },
		func() error { _, err := c.ConnectNetwork(ctx, "front", "web", "www"); return err },
		func() error { _, err := c.DisconnectNetwork(ctx, "front", "web"); return err },
		func() error { _, err := c.CheckpointVM(ctx, "dev", api.CheckpointRequest{}); return err },
		func() error { _, err := c.ListCheckpoints(ctx); return err },
		func() error { _, err := c.RemoveCheckpoint(ctx, "cp"); return err },
		func() error {
			// The recorder's stream has no end line: a broken stream.
			if _, err := c.Events(ctx, api.EventsQuery{}, func(api.EventsLine) error { return nil }); !errors.Is(err, errdefs.ErrUnavailable) {
				return fmt.Errorf("a stream without its end: %w", err)
			}
			return nil
		},
		func() error { _, err := c.AddContainer(ctx, "pod", "c1", "busybox"); return err },
		func() error { _, err := c.RemoveContainer(ctx, "pod", "c1"); return err },
		func() error { _, err := c.ListSnapshots(ctx); return err },
		func() error { _, err := c.RemoveSnapshot(ctx, "snap"); return err },
		func() error { _, err := c.PruneSnapshots(ctx, api.PruneSnapshotsRequest{}); return err },
		func() error { _, err := c.PruneImages(ctx, api.PruneImagesRequest{DryRun: true}); return err },
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	var missing []string
	for _, r := range api.Routes() {
		if !rec.called[r.MuxPattern()] {
			missing = append(missing, r.MuxPattern())
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("no client method calls %s", strings.Join(missing, ", "))
	}
}

// TestErrorsAreSentinels: what the daemon answers as an error of a kind
// comes back from the client's methods (plain, streamed and upgraded
// calls) as an error that errors.Is that kind's errdefs sentinel, with
// the daemon's message.
func TestErrorsAreSentinels(t *testing.T) {
	rt := versionRouter(api.VersionInfo{APIVersion: api.APIVersion, MinAPIVersion: api.MinAPIVersion}, &counter{})
	api.Handle(rt, api.GetVM, func(r *http.Request, _ api.None) (api.VM, error) {
		return api.VM{}, fmt.Errorf("vm %q: %w", r.PathValue("ref"), errdefs.ErrNotFound)
	})
	api.Handle(rt, api.RemoveVM, func(r *http.Request, _ api.RemoveVMQuery) (api.None, error) {
		return api.None{}, fmt.Errorf("vm %s is running; stop it or force: %w", r.PathValue("ref"), errdefs.ErrConflict)
	})
	api.HandleStream(rt, api.StartVM, func(*http.Request, api.None, *api.EventWriter) (api.StartResult, error) {
		return api.StartResult{}, fmt.Errorf("no kernel: %w", errdefs.ErrInvalid)
	})
	api.HandleStream(rt, api.PullImage, func(*http.Request, api.PullRequest, *api.EventWriter) (api.Image, error) {
		return api.Image{}, fmt.Errorf("registry: %w", errdefs.ErrUnavailable)
	})
	rt.Raw(api.VMSSH, func(w http.ResponseWriter, _ *http.Request) {
		api.WriteError(w, fmt.Errorf("vm dev is paused; banger unpause it: %w", errdefs.ErrConflict))
	})
	c := serve(t, rt)
	ctx := ctxT(t)
	_, errGet := c.GetVM(ctx, "ghost")
	_, errStart := c.StartVM(ctx, "dev", api.Watch{})
	_, errPull := c.PullImage(ctx, api.PullRequest{Reference: "x"}, api.Watch{})
	_, errExec := c.Exec(ctx, "dev", ExecConfig{Cmd: []string{"true"}})
	_, errRun := c.Run(ctx, RunConfig{Spec: api.VMSpec{Image: "ghost"}})
	for _, tc := range []struct {
		what string
		err  error
		kind error
		says string
	}{
		{"GetVM", errGet, errdefs.ErrNotFound, `vm "ghost"`},
		{"RemoveVM", c.RemoveVM(ctx, "dev", api.RemoveVMQuery{}), errdefs.ErrConflict, "stop it or force"},
		{"StartVM (a stream)", errStart, errdefs.ErrInvalid, "no kernel"},
		{"PullImage (a stream)", errPull, errdefs.ErrUnavailable, "registry"},
		{"Exec (an upgrade)", errExec, errdefs.ErrConflict, "paused"},
		// GetImage is not served here: its 404 is not found, so Run
		// pulls, and the pull's error is Run's.
		{"Run (its pull)", errRun, errdefs.ErrUnavailable, "registry"},
	} {
		if !errors.Is(tc.err, tc.kind) || !strings.Contains(fmt.Sprint(tc.err), tc.says) {
			t.Errorf("%s: %v; want %v saying %q", tc.what, tc.err, tc.kind, tc.says)
		}
	}
}
