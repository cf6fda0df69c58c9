package containershim

import (
	"errors"
	"fmt"
	"os"
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

// podNetwork is where a container task's VM is attached, and the pod
// sandbox task whose namespace it then holds (nil for none).
type podNetwork struct {
	mode string // api.VMSpec.Network
	pod  *task
}

// claimNetwork picks the network of container id's VM from its spec:
//
//   - a CRI container takes its pod's: the host's (banger's bridge) for
//     a host-network pod, else the pod's network namespace, which CRI
//     made and CNI configured and whose interface the VM takes over. A
//     namespace carries one VM, so a second container of such a pod is
//     refused while the first holds it (release gives it back).
//   - any other container joining a network namespace by path (ctr run
//     --with-ns network:PATH) is attached to it, unless that is the
//     shim's own namespace (the host's);
//   - else banger's bridge.
//
// CRI's containers name /proc/SANDBOX-PID/ns/net, the shim's own
// namespace (the sandbox task is the shim's process): their pod's
// namespace is the one its sandbox task's spec names.
func (s *Service) claimNetwork(id string, spec *specs.Spec) (podNetwork, error) {
	a := spec.Annotations
	if podID := a[AnnotationSandboxID]; a[AnnotationContainerType] == containerTypeContainer && podID != "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		pod, ok := s.tasks[podID]
		if !ok || !pod.sandbox {
			return podNetwork{}, fmt.Errorf("%w: container %s of %s: its pod's sandbox task is not served by this shim, so its network is unknown; remove the pod and run it again", errFailedPrecondition, id, podName(a))
		}
		if pod.netns == "" {
			return podNetwork{}, nil
		}
		if pod.netnsUser != "" {
			return podNetwork{}, fmt.Errorf("%w: container %s of %s: the pod's network namespace %s already carries container %s's VM, and a namespace holds one VM (the VM takes over its interface and address); "+
				"run one container per pod that is not on the host's network, or put the pod on the host's network (hostNetwork: true)",
				errFailedPrecondition, id, podName(a), pod.netns, pod.netnsUser)
		}
		pod.netnsUser = id
		return podNetwork{mode: api.NetworkNetnsPrefix + pod.netns, pod: pod}, nil
	}
	if p := specNetns(spec); p != "" && !sameNetns(p, "/proc/self/ns/net") {
		return podNetwork{mode: api.NetworkNetnsPrefix + p}, nil
	}
	return podNetwork{}, nil
}

// release gives the pod's namespace back once container id's VM is gone.
func (s *Service) release(n podNetwork, id string) {
	if n.pod == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.pod.netnsUser == id {
		n.pod.netnsUser = ""
	}
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
func netnsStartError(n podNetwork, err error) error {
	if n.mode == "" || !errors.Is(err, errdefs.ErrUnsupported) {
		return err
	}
	return fmt.Errorf("%w\nthe container's VM must join a network namespace (%s), which banger's daemon can do only with a VMM that reaches a tap there (QEMU): "+
		"set vm.vmm to auto or qemu in the daemon's configuration, or run the pod on the host's network (hostNetwork: true)", err, n.mode)
}
