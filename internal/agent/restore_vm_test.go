package agent_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
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

// The real agent across a QEMU save and restore: saved with a host
// connected, the restored guest's agent sees that host gone (EOF on its
// port) and serves the next one on the new machine's socket; its main
// process (a counter) goes on from where it was, and the file it wrote is
// there.
func TestAgentAcrossRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	testutil.RequireQEMU(t)
	g := newAgentGuest(t, "agrs")
	dir, hostKey := g.dir, g.hostKey
	cfgImg := g.config(t, bootcfg.Config{
		VMID: "restore", Hostname: "agent-vm",
		Main:     &bootcfg.Process{Argv: []string{"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.1; done"}},
		Detached: true,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	b := qemu.New(qemu.WithAccel("tcg"))
	spec := func(id, disk string) vmm.Spec {
		run := filepath.Join(dir, id)
		if err := os.Mkdir(run, 0o700); err != nil {
			t.Fatal(err)
		}
		return vmm.Spec{
			ID: id, RuntimeDir: run, ConsoleLog: filepath.Join(dir, id+".console"),
			Kernel: vmm.Kernel{BzImage: g.vmlinuz, Initrd: g.initrd}, Cmdline: "root=/dev/vda rw banger.cfg=/dev/vdb quiet",
			CPUs: 1, MemoryMiB: 256,
			Drives: []vmm.Drive{{ID: "root", Path: disk, Root: true}, {ID: "cfg", Path: cfgImg, ReadOnly: true}},
		}
	}
	dial := func(m vmm.Machine) *agentclient.Client {
		t.Helper()
		c, err := g.dial(ctx, t, m, hostKey.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	run := func(c *agentclient.Client, argv ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		code, err := c.Exec(ctx, agentclient.ExecRequest{Argv: argv, Stdout: &out, Stderr: &errb})
		if err != nil || code != 0 {
			t.Fatalf("%v: code %d err %v stderr %q", argv, code, err, errb.String())
		}
		return out.String()
	}
	count := func(c *agentclient.Client) int {
		t.Helper()
		n, err := strconv.Atoi(strings.TrimSpace(run(c, "cat", "/count")))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	src, err := b.Start(ctx, spec("src", g.rootImg))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Kill(ctx); _ = src.Cleanup() }()
	c := dial(src)
	run(c, "sh", "-c", "echo before-snapshot > /file && sync")
	time.Sleep(300 * time.Millisecond)
	before := count(c)
	// The host stays connected through the save: the restored guest must
	// notice it is gone.
	if err := src.(vmm.Pauser).Pause(ctx); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	if err := src.(vmm.Snapshotter).CreateSnapshot(ctx, vmm.SnapshotSpec{StatePath: state}); err != nil {
		t.Fatal(err)
	}
	if err := src.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "kid.ext4")
	if out, err := exec.CommandContext(ctx, "cp", "--reflink=auto", g.rootImg, disk).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}

	t0 := time.Now()
	kid, err := b.Restore(ctx, spec("kid", disk), vmm.RestoreSpec{StatePath: state, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = kid.Kill(ctx); _ = kid.Cleanup() }()
	kc := dial(kid)
	after := count(kc)
	t.Logf("restored agent: first exec %v after Restore was called", time.Since(t0).Round(time.Millisecond))
	if after < before || after > before+2+int(time.Since(t0)/(100*time.Millisecond)) {
		t.Errorf("main process counter at %d after restore; %d before the snapshot", after, before)
	}
	if got := run(kc, "cat", "/file"); got != "before-snapshot\n" {
		t.Errorf("/file = %q", got)
	}
	// A second connection to the restored guest, as a reconnecting CLI
	// makes.
	_ = kc.Close()
	if got := run(dial(kid), "hostname"); got != "agent-vm\n" {
		t.Errorf("hostname = %q", got)
	}
}
