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
)

// cri is the test's containerd with its CRI plugin on, and crictl
// configured for it.
type cri struct {
	*containerd
	cc *containerdrun.Crictl
}

// criImages pushes the busybox image and a pause image to an in-process
// registry and answers their references; the daemon's copies of busybox
// (pulled by the shim) go when the test ends.
func criImages(t *testing.T, f *fixture) (ref, pauseRef string) {
	t.Helper()
	layer := busyboxLayer(t)
	img, err := rt.NewImage([]v1.Layer{layer})
	if err != nil {
		t.Fatal(err)
	}
	// The shim never runs the pause image, but CRI pulls and snapshots it
	// and wants a command in its config.
	pause, err := rt.NewImage([]v1.Layer{layer}, rt.WithConfig(v1.Config{Entrypoint: []string{"sleep", "infinity"}}))
	if err != nil {
		t.Fatal(err)
	}
	reg := rt.Start(t)
	ref, _ = reg.Push(t, "cri/busybox:1", img)
	pauseRef, _ = reg.Push(t, "cri/pause:1", pause)
	t.Cleanup(func() { f.removeImages(t, "cri/busybox") })
	return ref, pauseRef
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

// TestCRI runs a host-network pod through containerd's CRI plugin with
// the banger runtime handler, driven by crictl as kubelet would: the pod
// sandbox gets no VM, its container runs in a VM of its own served by the
// pod's shim (its output reaches crictl logs, exec -s runs in it and
// returns its output), and
// after stop, stopp and rmp neither the VM, its tap, nor the pod's shim
// is left.
func TestCRI(t *testing.T) {
	f := env(t)
	ref, pauseRef := criImages(t, f)
	c := startCRI(t, f, pauseRef)
	c.crictl(t, "pull", ref)
	dir := t.TempDir()
	podJSON := writeJSON(t, dir, "pod.json", fmt.Sprintf(`{"metadata":{"name":"p1","namespace":"default","uid":"u1","attempt":0},
"log_directory":%q,"linux":{"security_context":{"namespace_options":{"network":2}}}}`, filepath.Join(dir, "logs")))
	ctrJSON := writeJSON(t, dir, "ctr.json", fmt.Sprintf(`{"metadata":{"name":"c1"},"image":{"image":%q},
"command":["sh","-c","echo hello-cri; sleep 300"],"log_path":"c1.log","linux":{}}`, ref))

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
	if _, _, code := f.cli(nil, "inspect", containershim.VMName("k8s.io", pod)); code == 0 {
		t.Errorf("the pod's sandbox has a VM: it should be answered by the shim alone")
	}
	// The sandbox's pid is its shim's own.
	if pid, shims := c.crictl(t, "inspectp", "-o", "go-template", "--template", "{{.info.pid}}", pod), c.ShimPids(pod); len(shims) != 1 || pid != fmt.Sprint(shims[0]) {
		t.Errorf("the pod's pid is %s, its shim processes %v: want the shim's pid", pid, shims)
	}
	cid := c.crictl(t, "create", pod, ctrJSON, podJSON)
	vm := f.watchVM(t, containershim.VMName("k8s.io", cid))
	began = time.Now()
	c.crictl(t, "start", cid)
	t.Logf("crictl runp took %s (no VM), crictl start %s (the container's VM boots)", runp, time.Since(began))
	if st := c.crictl(t, "inspect", "-o", "go-template", "--template", "{{.status.state}}", cid); st != "CONTAINER_RUNNING" {
		t.Errorf("container %s after start is %q, want CONTAINER_RUNNING", cid, st)
	}
	// containerd sends the pod's containers to the pod's shim server.
	if pod, own := c.ShimPids(pod), c.ShimPids(cid); len(pod) != 1 || len(own) != 0 {
		t.Errorf("shim processes: %v of the pod, %v of the container; want one, the pod's", pod, own)
	}
	if out := c.crictl(t, "exec", "-s", "--timeout", "120", cid, "echo", "in-vm"); out != "in-vm" {
		t.Errorf("crictl exec -s: %q, want in-vm", out)
	}
	var logs string
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(200 * time.Millisecond) {
		if logs = c.crictl(t, "logs", cid); strings.Contains(logs, "hello-cri") {
			break
		}
	}
	if !strings.Contains(logs, "hello-cri") {
		t.Errorf("crictl logs: %q, want hello-cri", logs)
	}
	c.crictl(t, "stop", cid)
	if st := c.crictl(t, "inspect", "-o", "go-template", "--template", "{{.status.state}}", cid); st != "CONTAINER_EXITED" {
		t.Errorf("container %s after stop is %q, want CONTAINER_EXITED", cid, st)
	}
	c.crictl(t, "stopp", pod)
	c.crictl(t, "rmp", pod)
	removed = true
	if out := c.crictl(t, "pods", "-q"); out != "" {
		t.Errorf("crictl pods still lists %s", out)
	}
	c.assertShimVMGone(t, f, pod, vm())
}
