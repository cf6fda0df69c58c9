package client

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestHandshakeOnce: a daemon that serves this client's API version is
// asked its version once, before the first call, and never again.
func TestHandshakeOnce(t *testing.T) {
	var asked counter
	c := serve(t, versionRouter(api.VersionInfo{Version: "1.2.3", APIVersion: api.APIVersion, MinAPIVersion: api.MinAPIVersion}, &asked))
	for range 3 {
		info, err := c.Info(ctxT(t))
		if err != nil || info.Version != "1.2.3" {
			t.Fatalf("Info = %+v, %v", info, err)
		}
	}
	if asked.get() != 1 {
		t.Errorf("the daemon was asked its version %d times, want once", asked.get())
	}
}

// TestHandshakeMismatch: a daemon that does not serve this client's API
// version fails every call, the upgrade of an exec or attach included,
// with a *VersionError (errdefs.ErrUnsupported) whose message names both
// versions and which side to upgrade; the call itself never reaches the
// daemon, and the verdict is kept.
func TestHandshakeMismatch(t *testing.T) {
	tests := []struct {
		name   string
		daemon api.VersionInfo
		want   []string
	}{
		{
			name:   "older daemon",
			daemon: api.VersionInfo{Version: "0.1.0", APIVersion: "0.9", MinAPIVersion: "0.5"},
			want:   []string{"API " + api.APIVersion, "banger 0.1.0, API 0.9", "upgrade the daemon"},
		},
		{
			name:   "client too old",
			daemon: api.VersionInfo{Version: "9.0.0", APIVersion: "9.4", MinAPIVersion: "9.2"},
			want:   []string{"API " + api.APIVersion, "banger 9.0.0, API 9.4, oldest accepted 9.2", "upgrade this client", "to API 9.2 or later"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked, reached counter
			rt := versionRouter(tt.daemon, &asked)
			api.Handle(rt, api.GetVM, func(*http.Request, api.None) (api.VM, error) {
				reached.add()
				return api.VM{}, nil
			})
			c := serve(t, rt)
			for range 2 {
				_, err := c.GetVM(ctxT(t), "dev")
				checkVersionError(t, err, tt.want)
			}
			_, err := c.Exec(ctxT(t), "dev", ExecConfig{Cmd: []string{"true"}})
			checkVersionError(t, err, tt.want)
			_, err = c.Attach(ctxT(t), "dev", AttachConfig{})
			checkVersionError(t, err, tt.want)
			if reached.get() != 0 {
				t.Errorf("GetVM reached the daemon %d times past a failed handshake", reached.get())
			}
			if asked.get() != 1 {
				t.Errorf("the daemon was asked its version %d times, want once (the verdict is kept)", asked.get())
			}
			// ServerVersion still answers, to show both sides.
			v, err := c.ServerVersion(ctxT(t))
			if err != nil || v != tt.daemon {
				t.Errorf("ServerVersion = %+v, %v; want %+v", v, err, tt.daemon)
			}
		})
	}
}

// TestHandshakeOldDaemon: a daemon from before the handshake answers
// /v1/version with its mux's plain 404; the client says it predates the
// handshake and to upgrade the daemon.
func TestHandshakeOldDaemon(t *testing.T) {
	mux := http.NewServeMux() // no banger routes, no error body: an old daemon's unknown path
	c := serve(t, mux)
	_, err := c.ListVMs(ctxT(t), api.ListVMsQuery{})
	checkVersionError(t, err, []string{"predates the API version handshake", "API " + api.APIVersion, "upgrade the daemon"})
}

// TestHandshakeRetriedAfterOutage: a daemon that cannot answer is not a
// verdict: the next call asks again.
func TestHandshakeRetriedAfterOutage(t *testing.T) {
	var asked counter
	var down atomic.Bool
	down.Store(true)
	rt := api.NewRouter(nil)
	api.Handle(rt, api.GetVersion, func(*http.Request, api.None) (api.VersionInfo, error) {
		asked.add()
		if down.Load() {
			return api.VersionInfo{}, errors.Join(errdefs.ErrUnavailable, errors.New("starting"))
		}
		return api.VersionInfo{APIVersion: api.APIVersion, MinAPIVersion: api.MinAPIVersion}, nil
	})
	api.Handle(rt, api.Inventory, func(*http.Request, api.None) ([]api.HostObject, error) { return nil, nil })
	c := serve(t, rt)
	if _, err := c.Inventory(ctxT(t)); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Inventory with the daemon starting: %v, want unavailable", err)
	}
	down.Store(false)
	if _, err := c.Inventory(ctxT(t)); err != nil {
		t.Fatalf("Inventory once the daemon answers: %v", err)
	}
	if asked.get() != 2 {
		t.Errorf("asked %d times, want 2", asked.get())
	}
}

func checkVersionError(t *testing.T, err error, want []string) {
	t.Helper()
	var ve *VersionError
	if !errors.As(err, &ve) || !errors.Is(err, errdefs.ErrUnsupported) {
		t.Fatalf("err = %v; want a *VersionError that is errdefs.ErrUnsupported", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// TestHandshakeAgainAfterUpgrade: when an answer carries another API
// version than the handshake's (the daemon was upgraded under a
// long-lived client), the next call asks again; a new daemon that does
// not fit then fails calls with a *VersionError, and none reaches it.
func TestHandshakeAgainAfterUpgrade(t *testing.T) {
	var asked, reached counter
	var upgraded atomic.Bool
	newer := api.VersionInfo{Version: "9.0.0", APIVersion: "9.4", MinAPIVersion: "9.2"}
	rt := api.NewRouter(nil)
	api.Handle(rt, api.GetVersion, func(*http.Request, api.None) (api.VersionInfo, error) {
		asked.add()
		if upgraded.Load() {
			return newer, nil
		}
		return api.VersionInfo{Version: "1.0.0", APIVersion: api.APIVersion, MinAPIVersion: api.MinAPIVersion}, nil
	})
	api.Handle(rt, api.GetInfo, func(*http.Request, api.None) (api.Info, error) {
		reached.add()
		return api.Info{}, nil
	})
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if upgraded.Load() {
			w = versionHeader{w, newer.APIVersion}
		}
		rt.ServeHTTP(w, r)
	}))
	for range 2 {
		if _, err := c.Info(ctxT(t)); err != nil {
			t.Fatalf("Info before the upgrade: %v", err)
		}
	}
	upgraded.Store(true)
	// This call still passes the old verdict; its answer shows the new version.
	if _, err := c.Info(ctxT(t)); err != nil {
		t.Fatalf("Info answered by the upgraded daemon: %v", err)
	}
	_, err := c.Info(ctxT(t))
	checkVersionError(t, err, []string{"banger 9.0.0, API 9.4", "upgrade this client"})
	if asked.get() != 2 || reached.get() != 3 {
		t.Errorf("asked %d times and reached %d times, want 2 and 3", asked.get(), reached.get())
	}
}

// versionHeader makes an answer carry another daemon's API version.
type versionHeader struct {
	http.ResponseWriter
	v string
}

func (w versionHeader) WriteHeader(code int) {
	w.Header().Set(api.HeaderAPIVersion, w.v)
	w.ResponseWriter.WriteHeader(code)
}

func (w versionHeader) Write(b []byte) (int, error) {
	w.Header().Set(api.HeaderAPIVersion, w.v)
	return w.ResponseWriter.Write(b)
}
