package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/containershim"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/containerdrun"
	"github.com/bangerdev/banger/internal/volumes"
)

// podNetOctet is the second octet of the CNI bridges' subnets: outside
// the test daemons' (testutil.Config) and subnet "auto"'s 10.218.0.0/15.
const podNetOctet = 221

// startCRINet starts a CRI containerd whose pods off the host's network
// get their namespace from the CNI bridge plugin: a bridge and /24 of the
// test's own, removed when the test ends. It answers the bridge's name.
func startCRINet(t *testing.T, f *fixture, pauseRef string) (*cri, string) {
	t.Helper()
	bin, err := containerdrun.CNIBinDir(testutil.RepoRoot(t))
	if err != nil {
		testutil.Skip(t, err.Error())
	}
	tag := make([]byte, 3)
	_, _ = rand.Read(tag)
	br := containerdrun.Bridge{
		Name: "bgcni" + hex.EncodeToString(tag), Subnet: testutil.FreeSubnet(podNetOctet), IPAMDir: t.TempDir(),
	}
	br.Bridge = br.Name
	conf := t.TempDir()
	if err := containerdrun.WriteBridge(conf, br); err != nil {
		t.Fatal(err)
	}
	// The bridge plugin makes the bridge and leaves it when the last pod
	// goes.
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", br.Bridge).Run() }) //nolint:noctx // cleanup
	return startCRIWith(t, f, containerdrun.CRIConfigCNI(pauseRef, containerdrun.CNI{BinDir: bin, ConfDir: conf})), br.Bridge
}

// podInfo is what crictl inspectp says of a pod's network.
type podInfo struct {
	Status struct {
		State   string
		Network struct{ IP string }
	}
	Info struct {
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct{ Type, Path string }
			}
		} `json:"runtimeSpec"`
	}
}

// netns is the path of the pod's network namespace.
func (p podInfo) netns() string {
	for _, ns := range p.Info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" {
			return ns.Path
		}
	}
	return ""
}

// TestCRIPodNetwork runs a pod off the host's network through CRI with
// the banger handler: CNI's bridge plugin gives the pod a namespace and
// an address, the pod's one VM takes them over (the guest's eth0 has the
// pod's IP, the VM's record too) when the sandbox starts; both containers
// of the pod are in that VM: the host reaches c1's httpd at pod IP:80
// over the test's CNI bridge, c2 reaches it on localhost, and c2
// resolves with the pod's dnsConfig. When the pod's shim is killed,
// containerd's delete actions remove the containers' roots and the VM
// (its tap in the namespace with it), and after stopp and rmp neither a
// VM, the namespace, nor the shim is left.
func TestCRIPodNetwork(t *testing.T) {
	f := env(t)
	if _, err := volumes.FindVirtiofsd(f.cfg.QEMU.Virtiofsd); err != nil {
		testutil.Skip(t, err.Error())
	}
	ref, otherRef, pauseRef := criImages(t, f)
	c, bridge := startCRINet(t, f, pauseRef)
	c.crictl(t, "pull", ref)
	c.crictl(t, "pull", otherRef)
	dir := t.TempDir()
	podJSON := writeJSON(t, dir, "pod.json", fmt.Sprintf(`{"metadata":{"name":"web","namespace":"default","uid":"u2","attempt":0},
"log_directory":%q,"linux":{},
"dns_config":{"servers":["10.96.0.10"],"searches":["default.svc.cluster.local"],"options":["ndots:5"]}}`, filepath.Join(dir, "logs")))
	c1JSON := ctrConfig(t, dir, "c1", ref, "mkdir -p /www && echo hello-from-c1 > /www/index.html && exec httpd -f -p 80 -h /www")
	c2JSON := ctrConfig(t, dir, "c2", otherRef, "exec sleep 600")

	pod := c.crictl(t, "runp", "--runtime", "banger", podJSON)
	removed := false
	t.Cleanup(func() {
		if !removed {
			_, _, _ = c.cc.Run(context.Background(), "rmp", "-f", pod)
		}
	})
	var info podInfo
	if err := json.Unmarshal([]byte(c.crictl(t, "inspectp", "-o", "json", pod)), &info); err != nil {
		t.Fatal(err)
	}
	ip, netns := info.Status.Network.IP, info.netns()
	if info.Status.State != "SANDBOX_READY" || ip == "" || !strings.HasPrefix(netns, "/var/run/netns/") {
		t.Fatalf("pod %s: state %s, ip %q, netns %q; want ready, an address of the CNI bridge and a namespace", pod, info.Status.State, ip, netns)
	}
	vmName := containershim.VMName("k8s.io", pod)
	vm := f.inspect(t, vmName)
	if vm.Runtime.IP != ip {
		t.Errorf("the pod's VM has IP %q, want the pod's %s", vm.Runtime.IP, ip)
	}
	c1 := c.crictl(t, "create", pod, c1JSON, podJSON)
	c2 := c.crictl(t, "create", pod, c2JSON, podJSON)
	c.crictl(t, "start", c1)
	c.crictl(t, "start", c2)
	t.Logf("pod %s at %s in %s", pod, ip, netns)
	if got := c.crictl(t, "exec", "-s", "--timeout", "120", c2, "ip", "addr", "show", "eth0"); !strings.Contains(got, "inet "+ip+"/24") {
		t.Errorf("c2's eth0 has not the pod's address %s:\n%s", ip, got)
	}
	// The pod resolves as its dnsConfig says (cluster DNS), not with the
	// host's resolvers: the VM's resolv.conf, bound into each container.
	if got := c.crictl(t, "exec", "-s", "--timeout", "120", c2, "cat", "/etc/resolv.conf"); !strings.Contains(got, "nameserver 10.96.0.10\nsearch default.svc.cluster.local\noptions ndots:5") {
		t.Errorf("c2's resolv.conf is not the pod's dnsConfig (the VM's spec has %+v):\n%s", vm.Spec.DNS, got)
	}
	if got := httpGet(t, "http://"+ip+"/"); got != "hello-from-c1\n" {
		t.Errorf("GET http://%s/ from the host over %s: %q", ip, bridge, got)
	}
	if got := c.crictl(t, "exec", "-s", "--timeout", "120", c2, "wget", "-qO-", "http://127.0.0.1/"); got != "hello-from-c1" {
		t.Errorf("c2 reading c1's httpd on localhost: %q", got)
	}

	// The pod's shim dies: containerd runs its delete actions, which
	// remove the containers' roots and the VM, its tap in the namespace
	// with it.
	for _, pid := range c.ShimPids(pod) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(200 * time.Millisecond) {
		if _, _, code := f.cli(nil, "inspect", vmName); code != 0 {
			break
		}
	}
	// CRI learns the exits from containerd's cleanup of the dead shim; it
	// retries deleting the tasks with a backoff until the shim is gone.
	for _, id := range []string{c1, c2} {
		state := ""
		for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(500 * time.Millisecond) {
			if state = c.crictl(t, "inspect", "-o", "go-template", "--template", "{{.status.state}}", id); state == "CONTAINER_EXITED" {
				break
			}
		}
		if state != "CONTAINER_EXITED" {
			t.Errorf("container %s after its shim was killed is %q, want CONTAINER_EXITED", id, state)
		}
	}
	if links := testutil.IP(t, "-n", filepath.Base(netns), "-br", "link"); strings.Contains(links, "bg-") {
		t.Errorf("the pod VM's tap is left in the namespace after its shim died:\n%s", links)
	}
	c.crictl(t, "stopp", pod)
	c.crictl(t, "rmp", "-f", pod)
	removed = true
	if _, err := os.Stat(netns); err == nil {
		t.Errorf("the pod's namespace %s is left", netns)
	}
	if out := c.crictl(t, "pods", "-q"); out != "" {
		t.Errorf("crictl pods still lists %s", out)
	}
	c.assertShimVMGone(t, f, pod, vm.ID)
	assertNoLoops(t, f)
}

// httpGet answers the body at url, retrying while the guest's server
// starts.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := http.Client{Timeout: 3 * time.Second}
	var err error
	for range 50 {
		var resp *http.Response
		if resp, err = client.Get(url); err == nil { //nolint:noctx // bounded by the client's timeout
			body, rerr := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("%s: %w", resp.Status, rerr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, err)
	return ""
}

// TestContainerdNetns runs a container outside CRI that joins a network
// namespace by path (ctr run --with-ns network:PATH, made as a CNI
// plugin leaves a pod's): its VM takes the namespace's eth0 address, and
// after ctr run --rm the namespace is as it was.
func TestContainerdNetns(t *testing.T) {
	f := env(t)
	c := startContainerd(t, f)
	ref := c.pullBusybox(t)
	p := testutil.NewNetnsPair(t, "ctrns")
	before := testutil.NetnsView(t, p.A)
	id := "shim-netns"
	vm := f.watchVM(t, containershim.VMName("default", id))
	out, errOut, code := c.Ctr(t.Context(), "run", "--rm", "--runtime", containershim.RuntimeName,
		"--with-ns", "network:"+p.PathA(), ref, id, "ip", "addr", "show", "eth0")
	if code != 0 || !strings.Contains(out, "inet "+p.AddrA+"/24") {
		t.Errorf("ctr run --with-ns network:%s: exit %d, want eth0 with %s/24:\n%s%s", p.PathA(), code, p.AddrA, out, errOut)
	}
	if after := testutil.NetnsView(t, p.A); after != before {
		t.Errorf("namespace %s after ctr run --rm:\n%s\nbefore:\n%s", p.A, after, before)
	}
	c.assertGone(t, f, id, vm())
}
