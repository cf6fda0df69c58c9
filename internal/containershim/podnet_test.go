package containershim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// podSandboxConfig is the spec CRI gives the sandbox task of a pod not
// on the host's network: it joins the namespace CRI made and CNI
// configured.
const podSandboxConfig = `{"ociVersion":"1.2.0","process":{"args":["/pause"],"cwd":"/"},"root":{"path":"rootfs"},
"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/cni-1234"}]},
"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-id":"pod1",
"io.kubernetes.cri.podsandbox.image-name":"127.0.0.1:5000/pause:1"}}`

// podContainerConfig is the spec of a CRI container of pod: the
// namespace paths CRI writes are the sandbox process's.
func podContainerConfig(pod string) string {
	return fmt.Sprintf(`{"ociVersion":"1.2.0","process":{"args":["httpd","-f"],"env":["A=b"],"cwd":"/srv","user":{"uid":1000,"gid":1000}},"root":{"path":"rootfs"},
"linux":{"namespaces":[{"type":"network","path":"/proc/%d/ns/net"}]},
"annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.sandbox-id":%q,
"io.kubernetes.cri.sandbox-name":"web","io.kubernetes.cri.sandbox-namespace":"default",
"io.kubernetes.cri.image-name":"127.0.0.1:5000/bb:1"}}`, os.Getpid(), pod)
}

// bundle writes config into a bundle directory of its own.
func bundle(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// createIn creates task id of bundle config in h's shim.
func createIn(ctx context.Context, h *harness, id, config string, t *testing.T) error {
	t.Helper()
	_, err := h.s.Create(ctx, &taskv3.CreateTaskRequest{ID: id, Bundle: bundle(t, config)})
	return err
}

// vmNetwork is the network mode VM name was recorded with ("-" when it
// does not exist).
func (d *fakeDaemon) vmNetwork(name string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.vms[name]; ok {
		return v.vm.Spec.Network
	}
	return "-"
}

// TestPodVMJoinsPodNetns: the VM of a pod not on the host's network is
// attached to the pod's network namespace (the one the sandbox's spec
// names) and its containers, any number, are roots in that VM with no
// network of their own; a VMM that cannot reach a tap there is told to
// use QEMU or the host's network.
func TestPodVMJoinsPodNetns(t *testing.T) {
	h := newHarness(t, podSandboxConfig)
	ctx := t.Context()
	startPod(t, h, podSandboxConfig)
	pod := VMName("default", "pod1")
	if got := h.d.vmNetwork(pod); got != "netns:/var/run/netns/cni-1234" {
		t.Errorf("the pod VM's network %q, want netns:/var/run/netns/cni-1234", got)
	}
	for _, id := range []string{"c1", "c2"} {
		if err := createIn(ctx, h, id, podContainerConfig("pod1"), t); err != nil {
			t.Fatalf("container %s of the pod: %v", id, err)
		}
	}
	if got := h.d.vmNames(); !slices.Equal(got, []string{pod}) || len(h.d.containersOf(pod)) != 2 {
		t.Errorf("VMs %v with containers %v; want the pod's one with both", got, h.d.containersOf(pod))
	}
	h.closeEvents()

	h = newHarness(t, podSandboxConfig)
	if err := createIn(ctx, h, "pod1", podSandboxConfig, t); err != nil {
		t.Fatal(err)
	}
	h.d.startErr = fmt.Errorf("attach to netns:/var/run/netns/cni-1234: %w: the firecracker backend cannot reach a tap in another network namespace", errdefs.ErrUnsupported)
	_, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "pod1"})
	if !cerrdefs.IsNotImplemented(errgrpc.ToNative(err)) {
		t.Fatalf("start on a VMM without namespaces: %v, want not implemented", err)
	}
	for _, want := range []string{"firecracker", "vm.vmm", "qemu", "hostNetwork: true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "pod1"}); err != nil {
		t.Fatal(err)
	}
	if got := h.d.vmNames(); len(got) != 0 {
		t.Errorf("VMs left after delete: %v", got)
	}
	h.closeEvents()
}

// TestPodNetworkModes: a host-network pod's VM is on banger's bridge; a
// plain container joining a namespace by path is attached to it, one
// joining the shim's own (the host's) namespace or a new one is on
// banger's bridge.
func TestPodNetworkModes(t *testing.T) {
	h := newHarness(t, sandboxConfig)
	ctx := t.Context()
	if err := createIn(ctx, h, "pod1", sandboxConfig, t); err != nil {
		t.Fatal(err)
	}
	if got := h.d.vmNetwork("default-pod1"); got != "" {
		t.Errorf("host-network pod VM's network %q, want banger's bridge", got)
	}
	plain := func(path string) string {
		return `{"ociVersion":"1.2.0","process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"},
"linux":{"namespaces":[{"type":"network"` + path + `}]}}`
	}
	for _, c := range []struct{ id, config, want string }{
		{"p1", plain(`,"path":"/var/run/netns/other"`), "netns:/var/run/netns/other"},
		{"p2", plain(`,"path":"/proc/self/ns/net"`), ""},
		{"p3", plain(``), ""},
	} {
		if _, err := h.s.Create(ctx, &taskv3.CreateTaskRequest{ID: c.id, Bundle: bundle(t, c.config), Rootfs: overlay(t)}); err != nil {
			t.Fatalf("%s: %v", c.id, err)
		}
		if got := h.d.vmNetwork("default-" + c.id); got != c.want {
			t.Errorf("%s's VM network %q, want %q", c.id, got, c.want)
		}
	}
	h.closeEvents()
}

// TestPodDNS: the VM of a CNI pod resolves with the pod's resolv.conf
// (the one CRI mounts at /etc/resolv.conf in the sandbox's spec: cluster
// DNS, search domains, ndots), not the host's — every container of the
// pod sees the VM's — and one it cannot read fails the sandbox before
// its image is pulled; a host-network pod's VM keeps banger's own
// resolvers.
func TestPodDNS(t *testing.T) {
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	withResolv := func(config string) string {
		var spec map[string]any
		if err := json.Unmarshal([]byte(config), &spec); err != nil {
			t.Fatal(err)
		}
		spec["mounts"] = []map[string]any{{"destination": "/etc/resolv.conf", "type": "bind", "source": resolv, "options": []string{"rbind", "ro"}}}
		b, _ := json.Marshal(spec)
		return string(b)
	}
	want := api.DNSConfig{Servers: []string{"10.96.0.10"}, Search: []string{"default.svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5"}}

	h := newHarness(t, podSandboxConfig)
	gone := strings.Replace(withResolv(podSandboxConfig), resolv, resolv+".gone", 1)
	if err := createIn(t.Context(), h, "pod1", gone, t); err == nil || !strings.Contains(err.Error(), "pod sandbox pod1") || !strings.Contains(err.Error(), "resolv.conf") {
		t.Errorf("sandbox whose resolv.conf is gone: %v, want an error naming it and the file", err)
	}
	if len(h.d.images) != 0 || h.d.vmNetwork("default-pod1") != "-" {
		t.Errorf("the failed sandbox pulled an image (%d) or has a VM", len(h.d.images))
	}
	if err := createIn(t.Context(), h, "pod1", withResolv(podSandboxConfig), t); err != nil {
		t.Fatal(err)
	}
	if got := h.d.vmSpec("default-pod1").DNS; !reflect.DeepEqual(got, want) {
		t.Errorf("CNI pod VM's DNS %+v, want the pod's %+v", got, want)
	}
	h.closeEvents()

	h = newHarness(t, sandboxConfig)
	if err := createIn(t.Context(), h, "pod1", withResolv(sandboxConfig), t); err != nil {
		t.Fatal(err)
	}
	if got := h.d.vmSpec("default-pod1").DNS; !reflect.DeepEqual(got, api.DNSConfig{}) {
		t.Errorf("host-network pod VM's DNS %+v, want banger's own (none set)", got)
	}
	h.closeEvents()
}

func TestParseResolvConf(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want api.DNSConfig
	}{
		{"", api.DNSConfig{}},
		{"# comment\n; other\nnameserver 1.1.1.1\n", api.DNSConfig{Servers: []string{"1.1.1.1"}}},
		{"nameserver a\nnameserver b\nnameserver c\nnameserver d\n", api.DNSConfig{Servers: []string{"a", "b", "c"}}},
		{"domain corp\nsearch a b\n", api.DNSConfig{Search: []string{"a", "b"}}},
		{"search a b\ndomain corp\n", api.DNSConfig{Search: []string{"corp"}}},
		{"options ndots:2\noptions edns0 rotate\nsortlist 10.0.0.0\n", api.DNSConfig{Options: []string{"ndots:2", "edns0", "rotate"}}},
		{"nameserver\n  nameserver   10.0.0.1  \n", api.DNSConfig{Servers: []string{"10.0.0.1"}}},
	} {
		if got := parseResolvConf([]byte(tt.in)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseResolvConf(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// vmSpec is the spec VM name was recorded with (zero when it does not
// exist).
func (d *fakeDaemon) vmSpec(name string) api.VMSpec {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.vms[name].vm.Spec
}
