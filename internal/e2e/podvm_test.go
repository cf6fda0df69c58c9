package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/rootfs/dmsnap"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/testimages"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/client"
)

// podImage makes an ext4 image of the busybox tree with /etc/marker
// saying name.
func podImage(t *testing.T, name string) string {
	t.Helper()
	mkfs := testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	tree := testimages.BusyboxTree(t)
	if err := os.WriteFile(filepath.Join(tree, "etc/marker"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), name+".ext4")
	if out, err := exec.Command(mkfs, "-q", "-d", tree, img, "32M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v\n%s", err, out)
	}
	return img
}

// A pod VM, its containers' images mounted by hand (no API does it yet):
// one VM with a pod share (`--mount type=pod`, a shared mount the daemon
// makes and records), two container images loop-mounted under it after
// the boot, two containers made by the agent over them. Each container
// sees its own image and user, they reach each other over localhost (one
// VM, one network), and rm leaves no mount and no loop device, the images
// still mounted under the share included.
func TestPodVMContainersShareOneVM(t *testing.T) {
	f := env(t)
	if _, err := volumes.FindVirtiofsd(f.cfg.QEMU.Virtiofsd); err != nil {
		testutil.Skip(t, err.Error())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	images := map[string]string{"ctr-a": podImage(t, "ctr-a"), "ctr-b": podImage(t, "ctr-b")}

	id := strings.TrimSpace(f.must(t, "run", "-d", "--name", "podvm", "--mount", "type=pod,target=/pod", "busybox", "--", "sleep", "3600"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", "podvm") })
	share := filepath.Join(f.layout.VMRuntime(id), "pod")
	if fi, err := os.Stat(share); err != nil || !fi.IsDir() || !strings.Contains(mountinfo(t), " "+share+" ") {
		t.Fatalf("the pod share %s: %v; want a directory that is a mount point", share, err)
	}
	for name, img := range images {
		target, err := volumes.PodImageDir(share, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = volumes.UnmountPodImage(target) })
		attach := func(image string) (string, io.Closer, error) {
			return dmsnap.AttachLoop(image, "banger-"+id+"-"+name, true)
		}
		if err := volumes.MountPodImage(img, target, attach); err != nil {
			t.Fatal(err)
		}
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
	for name := range images {
		if err := s.MakeContainer(ctx, name, "/pod/"+name); err != nil {
			t.Fatalf("make container %s: %v\n%s", name, err, f.logTail())
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
	for name := range images {
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

	for name := range images {
		if err := s.RemoveContainer(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	var left bytes.Buffer
	if code, err := s.Exec(ctx, client.ExecConfig{Cmd: []string{"sh", "-c", "ls -A /run/banger/containers; grep -c /run/banger/containers /proc/mounts"}, Stdout: &left}); err != nil || left.String() != "0\n" || code != 1 {
		t.Errorf("the guest after removing both containers: exit %d, %v, %q; want no directory and no mount", code, err, left.String())
	}
	_ = s.Close()
	// The images stay mounted: the pod share's release takes them.
	f.must(t, "rm", "-f", "podvm")
	if strings.Contains(mountinfo(t), share) {
		t.Errorf("mounts left under %s after rm", share)
	}
	if _, err := os.Stat(share); !os.IsNotExist(err) {
		t.Errorf("the pod share after rm: %v", err)
	}
	for _, img := range images {
		deadline := time.Now().Add(5 * time.Second)
		for {
			out, _ := exec.Command("losetup", "-j", img).Output()
			if len(out) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("loop device left on %s: %s", img, out)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func mountinfo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
