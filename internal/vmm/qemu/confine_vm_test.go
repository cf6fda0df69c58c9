package qemu_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/hostsetup"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/qemu"
	"github.com/bangerdev/banger/internal/vmm/vmmtest"
)

// confineUser is the user `banger setup` creates.
const confineUser = "banger-vmm"

// confinedHarness is the echo harness with a confined backend; it skips
// unless the host can confine (root, the user, cgroups).
func confinedHarness(t *testing.T) vmmtest.Harness {
	h := echoHarness(t)
	testutil.RequireRoot(t)
	// As `banger setup` does, once per host.
	in := hostsetup.Inputs{VMMUser: confineUser}
	if err := hostsetup.Run(t.Context(), hostsetup.Plan(in, hostsetup.Observe(in)), hostsetup.ExecRunner); err != nil {
		testutil.Skip(t, "cannot create user "+confineUser+": "+err.Error())
	}
	newBackend := func(*testing.T) vmm.Backend {
		return qemu.New(qemu.WithAccel(testAccel()),
			qemu.WithConfinement(qemu.Confine{User: confineUser, CgroupParent: "banger-test.slice"}))
	}
	if st := newBackend(t).(vmm.Confiner).Confinement(t.Context()); st.Refused {
		testutil.Skip(t, "this host cannot confine qemu: "+strings.Join(st.Missing, "; "))
	}
	h.NewBackend = newBackend
	h.Leaks = func(t *testing.T, hs vmm.Handles) {
		c := hs.Confinement
		if c == nil || c.Cgroup == nil {
			t.Errorf("handles %+v record no cgroup", hs)
			return
		}
		for _, d := range c.Cgroup.Paths() {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Errorf("cgroup %s left: %v", d, err)
			}
		}
	}
	return h
}

// TestConformanceConfined runs the whole conformance suite with QEMU
// confined: adoption, release from handles and leak checks hold with an
// unprivileged, sandboxed QEMU in a cgroup.
func TestConformanceConfined(t *testing.T) {
	vmmtest.Run(t, confinedHarness(t))
}

// TestConfinedProcess starts a confined guest and checks what the kernel
// says about the QEMU process: its user, capability sets, seccomp mode, no
// new privileges, its cgroup and limits, and that the guest still answers.
func TestConfinedProcess(t *testing.T) {
	h := confinedHarness(t)
	b := h.NewBackend(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	dir, err := os.MkdirTemp("", "bgcf-") //nolint:usetesting // short socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	spec := h.Spec(t)
	spec.ID, spec.RuntimeDir, spec.ConsoleLog = "cf"+hex.EncodeToString(rnd[:]), run, filepath.Join(dir, "console.log")
	ctx := t.Context()
	m, err := b.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Kill(kctx)
		if err := m.Cleanup(); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		for _, d := range m.Handles().Confinement.Cgroup.Paths() {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Errorf("cgroup %s left: %v", d, err)
			}
		}
	})
	conn, err := m.DialAgent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	h.Guest(t, conn)
	_ = conn.Close()

	hs := m.Handles()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(hs.Process.PID) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := user.Lookup(confineUser)
	fields := map[string]string{}
	for line := range strings.Lines(string(status)) {
		k, v, _ := strings.Cut(line, ":")
		fields[k] = strings.Join(strings.Fields(v), " ")
		switch k {
		case "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters":
			t.Logf("/proc/PID/status %s:\t%s", k, fields[k])
		}
	}
	if want := strings.Repeat(u.Uid+" ", 4); fields["Uid"] != strings.TrimSpace(want) {
		t.Errorf("Uid %q; want %s for real, effective, saved and fs", fields["Uid"], u.Uid)
	}
	if g := strings.Fields(fields["Gid"]); len(g) != 4 || g[0] == u.Gid || g[1] != u.Gid {
		t.Errorf("Gid %q; want effective %s and another real gid (not dumpable)", fields["Gid"], u.Gid)
	}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if fields[k] != "0000000000000000" {
			t.Errorf("%s %s; want no capabilities", k, fields[k])
		}
	}
	if fields["Seccomp"] != "2" || fields["NoNewPrivs"] != "1" {
		t.Errorf("Seccomp %q NoNewPrivs %q; want 2 (filter) and 1", fields["Seccomp"], fields["NoNewPrivs"])
	}
	cg := hs.Confinement.Cgroup
	procCgroup, _ := os.ReadFile("/proc/" + strconv.Itoa(hs.Process.PID) + "/cgroup")
	for ctrl, d := range cg.Dirs {
		procs, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil || !strings.Contains(" "+strings.Join(strings.Fields(string(procs)), " ")+" ", " "+strconv.Itoa(hs.Process.PID)+" ") {
			t.Errorf("%s cgroup %s holds %q (%v); want qemu %d; /proc/PID/cgroup: %s", ctrl, d, procs, err, hs.Process.PID, procCgroup)
		}
	}
	mem := readFirst(t, cg.Dirs["memory"], "memory.max", "memory.limit_in_bytes")
	pids := readFirst(t, cg.Dirs["pids"], "pids.max")
	if mem != strconv.FormatInt(cg.MemoryMax, 10) || pids != strconv.FormatInt(cg.PidsMax, 10) {
		t.Errorf("limits memory %s pids %s; recorded %d and %d", mem, pids, cg.MemoryMax, cg.PidsMax)
	}
	t.Logf("cgroup v%d %v: memory limit %s bytes, pids limit %s", cg.Version, cg.Paths(), mem, pids)
}

func readFirst(t *testing.T, dir string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	t.Errorf("none of %v in %s", names, dir)
	return ""
}
