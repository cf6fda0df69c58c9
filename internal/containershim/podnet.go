package containershim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// CRI's annotations naming a container's pod.
const (
	AnnotationSandboxID        = "io.kubernetes.cri.sandbox-id"
	annotationSandboxName      = "io.kubernetes.cri.sandbox-name"
	annotationSandboxNamespace = "io.kubernetes.cri.sandbox-namespace"
	containerTypeContainer     = "container"
)

// specNetns is the path of the network namespace spec s joins; "" when
// it names none (a new namespace, or the host's).
func specNetns(s *specs.Spec) string {
	if s.Linux == nil {
		return ""
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return ns.Path
		}
	}
	return ""
}

// vmNetwork is the network of a task's VM (api.VMSpec.Network) from
// its spec: the network namespace it joins by path — a CRI pod's, which
// CRI made and CNI configured before the sandbox task, and whose
// interface and address the pod's VM takes over; or `ctr run --with-ns
// network:PATH` — unless that is the shim's own (the host's); else
// banger's bridge (a pod on the host's network, whose spec names none).
// A container of a pod has no network of its own: it runs in the pod's
// VM (pod.go).
func vmNetwork(spec *specs.Spec) string {
	if p := specNetns(spec); p != "" && !sameNetns(p, "/proc/self/ns/net") {
		return api.NetworkNetnsPrefix + p
	}
	return ""
}

// podName names a container's pod for errors: namespace/name (id).
func podName(a map[string]string) string {
	return fmt.Sprintf("pod %s/%s (sandbox %s)", a[annotationSandboxNamespace], a[annotationSandboxName], a[AnnotationSandboxID])
}

// sameNetns says whether two namespace files are the same namespace; a
// path that cannot be read is not.
func sameNetns(a, b string) bool {
	ia, ea := os.Stat(a)
	ib, eb := os.Stat(b)
	if ea != nil || eb != nil {
		return false
	}
	sa, oka := ia.Sys().(*syscall.Stat_t)
	sb, okb := ib.Sys().(*syscall.Stat_t)
	return oka && okb && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// netnsStartError says what to do when a VM attached to a network
// namespace cannot start because the daemon's backend cannot reach a tap
// there (errdefs.ErrUnsupported; Firecracker).
func netnsStartError(network string, err error) error {
	if network == "" || !errors.Is(err, errdefs.ErrUnsupported) {
		return err
	}
	return fmt.Errorf("%w\nthe VM must join a network namespace (%s), which banger's daemon can do only with a VMM that reaches a tap there (QEMU): "+
		"set vm.vmm to auto or qemu in the daemon's configuration, or run the pod on the host's network (hostNetwork: true)", err, network)
}

// maxResolvConf bounds the pod's resolv.conf the shim reads.
const maxResolvConf = 64 << 10

// podDNS is the DNS config of a CRI container's pod: CRI writes the pod's
// resolv.conf (the pod's dnsConfig, or the node's) and mounts it at
// /etc/resolv.conf in every container of the pod. A VM in the pod's
// namespace is given the same, so it resolves what the pod's other
// containers would (cluster DNS); zero when the spec mounts none.
func podDNS(spec *specs.Spec) (api.DNSConfig, error) {
	for _, m := range spec.Mounts {
		if m.Destination != "/etc/resolv.conf" || m.Source == "" {
			continue
		}
		f, err := os.Open(m.Source)
		if err != nil {
			return api.DNSConfig{}, fmt.Errorf("read the pod's resolv.conf: %w", err)
		}
		defer func() { _ = f.Close() }()
		data, err := io.ReadAll(io.LimitReader(f, maxResolvConf))
		if err != nil {
			return api.DNSConfig{}, fmt.Errorf("read the pod's resolv.conf %s: %w", m.Source, err)
		}
		return parseResolvConf(data), nil
	}
	return api.DNSConfig{}, nil
}

// parseResolvConf reads what resolv.conf(5) says a resolver uses: the
// first three nameservers, the last search line, every option.
func parseResolvConf(data []byte) api.DNSConfig {
	var d api.DNSConfig
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(d.Servers) < 3 {
				d.Servers = append(d.Servers, f[1])
			}
		case "search", "domain":
			d.Search = f[1:]
		case "options":
			d.Options = append(d.Options, f[1:]...)
		}
	}
	return d
}
