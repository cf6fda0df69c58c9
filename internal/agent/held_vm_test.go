package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/qemu"
)

// heldRig boots real guests held, as the daemon does for a VM that may be
// snapshotted: the agent in a busybox root the kernel mounts read-only
// (`ro`), a held config drive whose host key is the hold key
// (g.hostKey), and a NIC on a tap in the test's own network namespace.
type heldRig struct {
	g       agentGuest
	b       *qemu.Backend
	net     *guestNet
	heldCfg string
}

func newHeldRig(t *testing.T, prefix string) *heldRig {
	t.Helper()
	if testing.Short() {
		t.Skip("boots VMs")
	}
	testutil.RequireQEMU(t)
	n := newGuestNet(t)
	g := newAgentGuestWith(t, prefix, append(slices.Clone(vmModules), netModules...))
	r := &heldRig{g: g, b: qemu.New(qemu.WithAccel("tcg")), net: n}
	r.heldCfg = g.config(t, bootcfg.Config{VMID: "held", Hold: true})
	return r
}

// macOf is guest i's MAC; 0 is the one the held VM booted with.
func macOf(i int) string { return fmt.Sprintf("06:00:0a:fb:00:%02x", 0x10+i) }

// disk is a fresh copy of the pristine image, as the disk stage makes.
func (r *heldRig) disk(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(r.g.dir, name)
	if out, err := exec.CommandContext(context.Background(), "cp", "--reflink=auto", r.g.rootImg, p).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return p
}

func (r *heldRig) spec(t *testing.T, id, disk, tap, mac string) vmm.Spec {
	t.Helper()
	run := filepath.Join(r.g.dir, id)
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	return vmm.Spec{
		ID: id, RuntimeDir: run, ConsoleLog: filepath.Join(r.g.dir, id+".console"),
		Kernel:  vmm.Kernel{BzImage: r.g.vmlinuz, Initrd: r.g.initrd},
		Cmdline: "root=/dev/vda ro banger.cfg=/dev/vdb quiet",
		CPUs:    1, MemoryMiB: 256,
		Drives: []vmm.Drive{{ID: "root", Path: disk, Root: true}, {ID: "cfg", Path: r.heldCfg, ReadOnly: true}},
		NICs:   []vmm.NIC{{ID: "net0", Tap: r.net.tap(t, tap), MAC: mac}},
	}
}

// start boots spec, or restores it from rs, inside the test's network
// namespace; the machine is killed when the test ends.
func (r *heldRig) start(ctx context.Context, t *testing.T, spec vmm.Spec, rs *vmm.RestoreSpec) vmm.Machine {
	t.Helper()
	var m vmm.Machine
	err := r.net.in(func() (err error) {
		if rs == nil {
			m, err = r.b.Start(ctx, spec)
		} else {
			m, err = r.b.Restore(ctx, spec, *rs)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = m.Kill(context.Background())
		_ = m.Cleanup()
		if t.Failed() {
			b, _ := os.ReadFile(spec.ConsoleLog)
			t.Logf("%s console:\n%s", spec.ID, b)
		}
	})
	return m
}

// redial closes the held connection and checks what the host's next one
// meets: the hold key no longer gets in, the VM's own key does.
func (r *heldRig) redial(ctx context.Context, t *testing.T, m vmm.Machine, held *agentclient.Client, own agentclient.Key) *agentclient.Client {
	t.Helper()
	_ = held.Close()
	if _, err := r.g.dial(ctx, t, m, r.g.hostKey.PublicKey()); !errors.Is(err, agentclient.ErrHostKeyMismatch) {
		t.Errorf("a new connection pinning the hold key after the apply: %v; want a host key mismatch", err)
	}
	c, err := r.g.dial(ctx, t, m, own.PublicKey())
	if err != nil {
		t.Fatalf("a new connection pinning the VM's own key: %v", err)
	}
	return c
}

// own is guest i's own config: hostname, NIC, host key, seed, main.
func (r *heldRig) own(t *testing.T, i int, main string) (bootcfg.Config, agentclient.Key) {
	t.Helper()
	key, seed := newIdentity(t)
	gw := r.net.addr(1).Addr()
	return bootcfg.Config{
		VMID: "own" + strconv.Itoa(i), Hostname: "held-vm-" + strconv.Itoa(i),
		Network:     &bootcfg.Network{MAC: macOf(i), Address: r.net.addr(10 + i), Gateway: gw, DNS: []netip.Addr{gw}},
		SSH:         bootcfg.SSH{HostKey: string(key.PEM), AuthorizedKeys: []string{r.g.clientKey.AuthorizedKey()}},
		Channels:    bootcfg.Channels{VirtioPort: "banger.agent"},
		EntropySeed: seed,
		Main:        &bootcfg.Process{Argv: []string{"sh", "-c", main}},
		Detached:    true, GrowRoot: true,
	}, key
}

// guestSh runs script in the guest and returns its stdout and status.
func guestSh(ctx context.Context, t *testing.T, c *agentclient.Client, script string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := c.Exec(ctx, agentclient.ExecRequest{Argv: []string{"sh", "-c", script}, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return out.String() + errb.String(), code
}

// mustSh is guestSh for a script that must succeed; it returns stdout's
// trimmed text.
func mustSh(ctx context.Context, t *testing.T, c *agentclient.Client, script string) string {
	t.Helper()
	out, code := guestSh(ctx, t, c, script)
	if code != 0 {
		t.Fatalf("%s: status %d: %s", script, code, out)
	}
	return strings.TrimSpace(out)
}

// waitFile waits for the main process to have written path.
func waitFile(ctx context.Context, t *testing.T, c *agentclient.Client, path string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, code := guestSh(ctx, t, c, "cat "+path)
		if code == 0 {
			return strings.TrimSpace(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the main process never wrote %s", path)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sameFile says whether two files have the same bytes.
func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}
