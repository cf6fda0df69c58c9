package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/containershim"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/containerdrun"
	"github.com/bangerdev/banger/internal/volumes"
)

// cri is the test's containerd with its CRI plugin on, and crictl
// configured for it.
type cri struct {
	*containerd
	cc *containerdrun.Crictl
}

// criImages pushes the busybox image, a second image (busybox with
// /etc/marker saying "other") and a pause image to an in-process
// registry and answers their references; the daemon's copies (pulled by
// the shim) go when the test ends.
func criImages(t *testing.T, f *fixture) (ref, otherRef, pauseRef string) {
	t.Helper()
	layer := busyboxLayer(t)
	img, err := rt.NewImage([]v1.Layer{layer})
	if err != nil {
		t.Fatal(err)
	}
	other, err := rt.NewImage([]v1.Layer{layer, rt.MustLayer(rt.File("etc/marker", "other\n"))})
	if err != nil {
		t.Fatal(err)
	}
	// The pause image is the pod VM's: its process stands for the pod
	// (busybox's sleep, for as long as the VM runs).
	pause, err := rt.NewImage([]v1.Layer{layer}, rt.WithConfig(v1.Config{Entrypoint: []string{"sleep", "2147483647"}}))
	if err != nil {
		t.Fatal(err)
	}
	reg := rt.Start(t)
	ref, _ = reg.Push(t, "cri/busybox:1", img)
	otherRef, _ = reg.Push(t, "cri/other:1", other)
	pauseRef, _ = reg.Push(t, "cri/pause:1", pause)
	t.Cleanup(func() { f.removeImages(t, "/cri/") })
	return ref, otherRef, pauseRef
}

// startCRI starts a containerd whose CRI plugin runs pods on the banger
// runtime handler (containerdrun.CRIConfig), its sandbox (pause) image
// pinned to pauseRef.
func startCRI(t *testing.T, f *fixture, pauseRef string) *cri {
	t.Helper()
	return startCRIWith(t, f, containerdrun.CRIConfig(pauseRef))
}

// startCRIWith is startCRI with the configuration config answers.
func startCRIWith(t *testing.T, f *fixture, config func(dir, sock string) string) *cri {
	t.Helper()
	bin, err := containerdrun.CrictlBin(testutil.RepoRoot(t))
	if err != nil {
		testutil.Skip(t, err.Error())
	}
	c := launchContainerd(t, f, config)
	cc, err := c.Crictl(bin)
	if err != nil {
		t.Fatal(err)
	}
	return &cri{containerd: c, cc: cc}
}

// crictl runs crictl against the test's containerd; it fails the test
// unless crictl exits 0, and answers its trimmed stdout.
func (c *cri) crictl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, errOut, code := c.cc.Run(ctx, args...)
	if code != 0 {
		t.Fatalf("crictl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// writeJSON writes a crictl config file and answers its path.
func writeJSON(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ctrConfig writes the crictl config of container name of image ref
// running script.
func ctrConfig(t *testing.T, dir, name, ref, script string) string {
	t.Helper()
	return writeJSON(t, dir, name+".json", fmt.Sprintf(`{"metadata":{"name":%q},"image":{"image":%q},
"command":["sh","-c",%q],"log_path":"%s.log","linux":{}}`, name, ref, script, name))
}

// TestCRI runs a host-network pod of two containers from two images
// through containerd's CRI plugin with the banger runtime handler,
// driven by crictl as kubelet would. The pod is ONE VM (issue 14): its
// sandbox task's (the pause image's process; the pod's pid is the VM's),
// and banger ps lists no other; the containers are roots in it, served
// by the pod's shim. Each sees its own image (exec), each one's output
// reaches crictl logs, c2 reads c1's server on localhost and exits with
// its own code (7) while c1 runs on; after stop, stopp and rmp neither
// the VM, its pod share's mounts and loop devices, its tap, nor the
// pod's shim is left.
func TestCRI(t *testing.T) {
	f := env(t)
	if _, err := volumes.FindVirtiofsd(f.cfg.QEMU.Virtiofsd); err != nil {
		testutil.Skip(t, err.Error())
	}
	ref, otherRef, pauseRef := criImages(t, f)
	c := startCRI(t, f, pauseRef)
	c.crictl(t, "pull", ref)
	c.crictl(t, "pull", otherRef)
	dir := t.TempDir()
	podJSON := writeJSON(t, dir, "pod.json", fmt.Sprintf(`{"metadata":{"name":"p1","namespace":"default","uid":"u1","attempt":0},
"log_directory":%q,"linux":{"security_context":{"namespace_options":{"network":2}}}}`, filepath.Join(dir, "logs")))
	c1JSON := ctrConfig(t, dir, "c1", ref, "echo hello-c1; while :; do echo from-c1 | nc -l -p 7070; done")
	// c2 reads c1's line, then exits 7 once an exec has touched /tmp/go
	// (an exec in an exited container races CRI's removal of its task).
	c2JSON := ctrConfig(t, dir, "c2", otherRef,
		"echo hello-c2; for i in $(seq 300); do if got=$(nc 127.0.0.1 7070 </dev/null 2>/dev/null) && [ -n \"$got\" ]; then echo got-$got; break; fi; sleep 0.2; done; "+
			"while [ ! -e /tmp/go ]; do sleep 0.2; done; exit 7")

	podVM := ""
	began := time.Now()
	pod := c.crictl(t, "runp", "--runtime", "banger", podJSON)
	runp := time.Since(began)
	removed := false
	t.Cleanup(func() {
		if !removed {
			_, _, _ = c.cc.Run(context.Background(), "rmp", "-f", pod)
		}
	})
	if st := c.crictl(t, "inspectp", "-o", "go-template", "--template", "{{.status.state}}", pod); st != "SANDBOX_READY" {
		t.Fatalf("pod %s is %q, want SANDBOX_READY", pod, st)
	}
	vm := f.inspect(t, containershim.VMName("k8s.io", pod))
	podVM = vm.ID
	if pid := c.crictl(t, "inspectp", "-o", "go-template", "--template", "{{.info.pid}}", pod); pid != fmt.Sprint(vm.Runtime.PID) {
		t.Errorf("the pod's pid is %s, its VM's %d", pid, vm.Runtime.PID)
	}
	c1 := c.crictl(t, "create", pod, c1JSON, podJSON)
	c2 := c.crictl(t, "create", pod, c2JSON, podJSON)
	began = time.Now()
	c.crictl(t, "start", c1)
	c.crictl(t, "start", c2)
	t.Logf("crictl runp took %s (the pod's VM boots), two creates and starts %s", runp, time.Since(began))
	// containerd sends the pod's containers to the pod's shim server, and
	// the pod is one VM.
	if pod, own := c.ShimPids(pod), c.ShimPids(c1); len(pod) != 1 || len(own) != 0 {
		t.Errorf("shim processes: %v of the pod, %v of c1; want one, the pod's", pod, own)
	}
	if out := f.must(t, "ps", "-a", "--filter", "label="+containershim.LabelNamespace+"=k8s.io", "--format", "{{.ID}}"); strings.TrimSpace(out) != podVM {
		t.Errorf("banger ps -a of CRI's VMs: %q; want the pod's one VM %s", out, podVM)
	}
	for _, e := range []struct{ id, want string }{{c1, "no-marker"}, {c2, "other"}} {
		if out := c.crictl(t, "exec", "-s", "--timeout", "120", e.id, "sh", "-c", "cat /etc/marker 2>/dev/null || echo no-marker; touch /tmp/go"); out != e.want {
			t.Errorf("crictl exec -s in %s: %q, want %s (its own image)", e.id, out, e.want)
		}
	}
	// c2 read c1's line over localhost and exited 7; c1 runs on.
	state := ""
	for start := time.Now(); time.Since(start) < 2*time.Minute; time.Sleep(500 * time.Millisecond) {
		if state = c.crictl(t, "inspect", "-o", "go-template", "--template", "{{.status.state}} {{.status.exitCode}}", c2); strings.HasPrefix(state, "CONTAINER_EXITED") {
			break
		}
	}
	if state != "CONTAINER_EXITED 7" {
		t.Errorf("c2 is %q, want CONTAINER_EXITED 7", state)
	}
	if st := c.crictl(t, "inspect", "-o", "go-template", "--template", "{{.status.state}}", c1); st != "CONTAINER_RUNNING" {
		t.Errorf("c1 after c2 exited is %q, want CONTAINER_RUNNING", st)
	}
	for _, l := range []struct{ id, want string }{{c1, "hello-c1"}, {c2, "hello-c2\ngot-from-c1"}} {
		if logs := c.crictl(t, "logs", l.id); !strings.Contains(logs, l.want) {
			t.Errorf("crictl logs %s: %q, want %q", l.id, logs, l.want)
		}
	}
	share := filepath.Join(f.layout.VMRuntime(podVM), "pod")
	if !strings.Contains(mountinfo(t), filepath.Join(share, c1)) {
		t.Errorf("c1's image is not mounted under the pod share %s", share)
	}
	// CRI deletes an exited container's task at once: its root goes.
	c.crictl(t, "rm", c2)
	if strings.Contains(mountinfo(t), filepath.Join(share, c2)) {
		t.Errorf("c2's image is still mounted after it exited and crictl rm")
	}
	c.crictl(t, "stop", c1)
	if st := c.crictl(t, "inspect", "-o", "go-template", "--template", "{{.status.state}}", c1); st != "CONTAINER_EXITED" {
		t.Errorf("c1 after stop is %q, want CONTAINER_EXITED", st)
	}
	c.crictl(t, "stopp", pod)
	c.crictl(t, "rmp", pod)
	removed = true
	if out := c.crictl(t, "pods", "-q"); out != "" {
		t.Errorf("crictl pods still lists %s", out)
	}
	c.assertShimVMGone(t, f, pod, podVM)
	if strings.Contains(mountinfo(t), share) {
		t.Errorf("mounts left under the pod share %s", share)
	}
	assertNoLoops(t, f)
}
