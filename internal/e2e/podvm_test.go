package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/testimages"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/client"
)

// podImage imports the busybox tree with /etc/marker saying name as the
// banger image name.
func podImage(t *testing.T, f *fixture, name string) {
	t.Helper()
	tree := testimages.BusyboxTree(t)
	if err := os.WriteFile(filepath.Join(tree, "etc/marker"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), name+".tar")
	if out, err := exec.Command("tar", "-C", tree, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	f.must(t, "image", "import", tarball, "--name", name)
	t.Cleanup(func() { f.cli(nil, "image", "rm", name) })
}

// A pod VM through the Go client: one VM with a pod share (`--mount
// type=pod`, a shared mount the daemon makes and records), two
// containers added from two images after the boot (each image mounted
// under the share, each root made by the agent). Each container sees its
// own image and user, they reach each other over localhost (one VM, one
// network), a removed container's mount goes, and rm leaves no mount and
// no loop device, the container still there included.
func TestPodVMContainersShareOneVM(t *testing.T) {
	f := env(t)
	if _, err := volumes.FindVirtiofsd(f.cfg.QEMU.Virtiofsd); err != nil {
		testutil.Skip(t, err.Error())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	names := []string{"ctr-a", "ctr-b"}
	for _, name := range names {
		podImage(t, f, name)
	}

	id := strings.TrimSpace(f.must(t, "run", "-d", "--name", "podvm", "--mount", "type=pod,target=/pod", "busybox", "--", "sleep", "3600"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", "podvm") })
	share := filepath.Join(f.layout.VMRuntime(id), "pod")
	if fi, err := os.Stat(share); err != nil || !fi.IsDir() || !strings.Contains(mountinfo(t), " "+share+" ") {
		t.Fatalf("the pod share %s: %v; want a directory that is a mount point", share, err)
	}
	c, err := client.New(f.host)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.OpenSession(ctx, "podvm", client.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	for _, name := range names {
		if _, err := c.AddContainer(ctx, "podvm", name, name); err != nil {
			t.Fatalf("add container %s: %v\n%s", name, err, f.logTail())
		}
		if !strings.Contains(mountinfo(t), " "+filepath.Join(share, name)+" ") {
			t.Errorf("container %s: its image is not mounted under the pod share", name)
		}
	}
	run := func(ctr string, script string) (string, int) {
		var out, errb bytes.Buffer
		code, err := s.Exec(ctx, client.ExecConfig{Cmd: []string{"sh", "-c", script}, Container: ctr, User: "user", Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatalf("exec in %s: %v", ctr, err)
		}
		return out.String() + errb.String(), code
	}
	for _, name := range names {
		if out, code := run(name, "cat /etc/marker; id -un; echo scratch > /tmp/w && cat /tmp/w"); code != 0 || out != name+"\nuser\nscratch\n" {
			t.Errorf("exec in %s: exit %d, %q", name, code, out)
		}
	}
	// ctr-a serves one line on localhost; ctr-b reads it.
	var served bytes.Buffer
	server, err := s.Start(ctx, client.ExecConfig{Cmd: []string{"sh", "-c", "echo from-a | nc -l -p 7070"}, Container: "ctr-a", Stdout: &served, Stderr: &served})
	if err != nil {
		t.Fatal(err)
	}
	out, code := run("ctr-b", "for i in $(seq 100); do nc 127.0.0.1 7070 </dev/null 2>/dev/null && exit 0; sleep 0.1; done; exit 1")
	if code != 0 || out != "from-a\n" {
		t.Errorf("ctr-b reading ctr-a over localhost: exit %d, %q", code, out)
	}
	if code, err := server.Wait(); err != nil || code != 0 {
		t.Errorf("ctr-a's server: exit %d, %v, %q", code, err, served.String())
	}
	if vms := f.must(t, "ps", "-a", "-q"); strings.Count(vms, id) != 1 {
		t.Errorf("banger ps -a -q: %q; want the pod's one VM %s", vms, id)
	}

	// ctr-a goes by itself; ctr-b stays for rm.
	if _, err := c.RemoveContainer(ctx, "podvm", "ctr-a"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mountinfo(t), filepath.Join(share, "ctr-a")) {
		t.Error("ctr-a's image is still mounted after its removal")
	}
	var left bytes.Buffer
	if code, err := s.Exec(ctx, client.ExecConfig{Cmd: []string{"ls", "/run/banger/containers"}, Stdout: &left}); err != nil || code != 0 || left.String() != "ctr-b\n" {
		t.Errorf("the guest's containers after removing ctr-a: exit %d, %v, %q; want ctr-b alone", code, err, left.String())
	}
	_ = s.Close()
	// ctr-b's image stays mounted: the pod share's release takes it.
	f.must(t, "rm", "-f", "podvm")
	if strings.Contains(mountinfo(t), share) {
		t.Errorf("mounts left under %s after rm", share)
	}
	if _, err := os.Stat(share); !os.IsNotExist(err) {
		t.Errorf("the pod share after rm: %v", err)
	}
	// The lazy unmount lets the loop devices (autoclear) go with the
	// last user, virtiofsd, which ended with the VM.
	assertNoLoops(t, f)
}

func mountinfo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertNoLoops checks that no loop device is left on the fixture's
// files (a pod container's image mount; autoclear frees it with its
// last user, so it may take a moment).
func assertNoLoops(t *testing.T, f *fixture) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command("losetup", "-a").Output()
		if !strings.Contains(string(out), f.root) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("loop devices left on the fixture's files: %s", out)
			return
		}
	}
}
