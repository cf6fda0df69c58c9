package dockerapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/vmstats"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeLive is the VM service's live side: a real in-process agent (the
// guest is this host, as the test's user) for exec, cp and top; pause and
// rename change the fake VMs.
type fakeLive struct {
	vms   *fakeVMs
	agent func() (*ssh.Client, error)
	mu    sync.Mutex
	calls []string
}

func (f *fakeLive) call(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeLive) Agent(_ context.Context, ref string) (*ssh.Client, error) {
	vm, err := f.vms.Get(ref)
	if err != nil {
		return nil, err
	}
	if vm.State == vms.Paused {
		return nil, fmt.Errorf("vm %s: %w: it is paused; banger unpause it first", vm.Name, errdefs.ErrConflict)
	}
	if vm.State != vms.Running || f.agent == nil {
		return nil, fmt.Errorf("vm %s: %w: it is not running", vm.Name, errdefs.ErrConflict)
	}
	return f.agent()
}

func (f *fakeLive) Pause(_ context.Context, ref string) (vms.VM, error) {
	f.call("pause %s", ref)
	return f.vms.set(ref, func(v *vms.VM) { v.State = vms.Paused })
}

func (f *fakeLive) Unpause(_ context.Context, ref string) (vms.VM, error) {
	f.call("unpause %s", ref)
	return f.vms.set(ref, func(v *vms.VM) { v.State = vms.Running })
}

func (f *fakeLive) Rename(ref, name string) (vms.VM, error) {
	f.call("rename %s %s", ref, name)
	if _, err := f.vms.Get(name); err == nil {
		return vms.VM{}, fmt.Errorf("vm name %q: %w", name, errdefs.ErrExists)
	}
	return f.vms.set(ref, func(v *vms.VM) { v.Name = name })
}

// fakeCatalog is the named volumes in a map.
type fakeCatalog struct {
	mu    sync.Mutex
	infos map[string]volumes.Info
}

func (c *fakeCatalog) List() ([]volumes.Volume, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []volumes.Volume
	for _, in := range c.infos {
		out = append(out, in.Volume)
	}
	return out, nil
}

func (c *fakeCatalog) CreateWith(_ context.Context, name string, o volumes.CreateOptions) (volumes.Volume, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := volumes.CheckName(name); err != nil {
		return volumes.Volume{}, err
	}
	if _, ok := c.infos[name]; ok {
		return volumes.Volume{}, fmt.Errorf("volume %q: %w", name, errdefs.ErrExists)
	}
	size := o.SizeBytes
	if size == 0 {
		size = volumes.DefaultVolumeSize
	}
	v := volumes.Volume{Name: name, SizeBytes: size, UUID: "uuid-" + name, Created: time.Unix(1700000000, 0), Labels: o.Labels}
	c.infos[name] = volumes.Info{Volume: v, Path: "/var/lib/banger/volumes/" + name + "/volume.ext4"}
	return v, nil
}

func (c *fakeCatalog) Inspect(name string) (volumes.Info, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.infos[name]
	if !ok {
		return in, fmt.Errorf("volume %q: %w", name, errdefs.ErrNotFound)
	}
	return in, nil
}

func (c *fakeCatalog) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.infos[name]
	switch {
	case !ok:
		return fmt.Errorf("volume %q: %w", name, errdefs.ErrNotFound)
	case len(in.UsedBy) > 0:
		return fmt.Errorf("volume %s: %w: it is in use", name, errdefs.ErrConflict)
	}
	delete(c.infos, name)
	return nil
}

// fakeCache is a build cache's dry-run prune.
type fakeCache struct{ rep images.PruneReport }

func (c fakeCache) Prune(o images.PruneOptions) (images.PruneReport, error) {
	if !o.DryRun || !o.BuildCacheOnly {
		return images.PruneReport{}, fmt.Errorf("df must only ask a dry run of the build cache, got %+v", o)
	}
	return c.rep, nil
}

// opsEnv is a Server over fakes with the ops' services.
type opsEnv struct {
	s       *Server
	vms     *fakeVMs
	live    *fakeLive
	catalog *fakeCatalog
	stats   []vmstats.Stats
	imgs    []images.Image
	cache   fakeCache
	journal Journal
}

func newOpsEnv(t *testing.T, list ...vms.VM) *opsEnv {
	t.Helper()
	f := newFakeVMs(list...)
	e := &opsEnv{vms: f, live: &fakeLive{vms: f}, catalog: &fakeCatalog{infos: map[string]volumes.Info{}}}
	e.imgs = []images.Image{{ID: "img1", Name: "docker.io/library/alpine:latest"}}
	return e.build(t)
}

// build (re)makes the server over e's fakes.
func (e *opsEnv) build(t *testing.T) *opsEnv {
	t.Helper()
	s, _ := newTestServer(e.vms, t.TempDir())
	o := s.opts
	o.Images = fakeImages{list: e.imgs}
	o.Ops = Ops{Live: e.live, Volumes: e.catalog, Cache: e.cache, Journal: e.journal,
		Stats: func(_ context.Context, refs []string) ([]vmstats.Stats, error) {
			var out []vmstats.Stats
			for _, st := range e.stats {
				for _, r := range refs {
					if st.ID == r {
						out = append(out, st)
					}
				}
			}
			return out, nil
		}}
	e.s = New(o)
	return e
}

// withAgent runs a real agent for the running VMs' exec, cp and top.
func (e *opsEnv) withAgent(t *testing.T) {
	t.Helper()
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sleep", "600"}}, Detached: true})
	c := a.Dial(t)
	e.live.agent = func() (*ssh.Client, error) { return c.SSH(), nil }
}

// upgrade sends a request on a fresh connection to srv as the docker
// CLI does a hijacked one (Upgrade: tcp) and returns the connection past
// the answer's head, and the head's status line.
func upgrade(t *testing.T, srv *httptest.Server, method, path, body string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: %d\r\n\r\n%s", method, path, len(body), body)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	return conn, br, strings.TrimSpace(status)
}

var _ http.Handler = (*Server)(nil)
