package containershim

import (
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bangerdev/banger/pkg/api"
)

// CRI's annotations of a pod's tasks.
const (
	// AnnotationContainerType is "sandbox" on a pod's sandbox (pause)
	// task and "container" on its containers'.
	AnnotationContainerType = "io.kubernetes.cri.container-type"
	containerTypeSandbox    = "sandbox"
	// AnnotationSandboxImage is the pod's sandbox (pause) image, on the
	// sandbox task's spec.
	AnnotationSandboxImage = "io.kubernetes.cri.podsandbox.image-name"
)

// The labels a pod's VM carries besides LabelNamespace and LabelID (the
// sandbox's id).
const (
	LabelPodName      = "io.kubernetes.pod.name"
	LabelPodNamespace = "io.kubernetes.pod.namespace"
)

// PodShareTarget is where a pod VM's share (a `type=pod` mount) is in
// its guest: each container's image is mounted under it, and the
// container's root in the guest is an overlay over that.
const PodShareTarget = "/.banger-pod"

// isSandbox says whether a task's spec is a CRI pod's sandbox task.
func isSandbox(annotations map[string]string) bool {
	return annotations[AnnotationContainerType] == containerTypeSandbox
}

// podOf is the sandbox id of a CRI container's pod; "" for any other
// task (a sandbox, a container outside CRI).
func podOf(annotations map[string]string) string {
	if annotations[AnnotationContainerType] != containerTypeContainer {
		return ""
	}
	return annotations[AnnotationSandboxID]
}

// imageRef is the image CRI named for a task, pulled by name: a
// container's image, or a sandbox's pause image; "" outside CRI.
func imageRef(annotations map[string]string) string {
	if isSandbox(annotations) {
		return annotations[AnnotationSandboxImage]
	}
	return annotations[AnnotationImageName]
}

// podVMSpec makes a sandbox task's VM its pod's VM: it gets the pod
// share, under which each container of the pod gets its root
// (AddContainer), the pod's name as labels, and the pod's CPU and memory
// limits when CRI passes them (podResources). Its main process is the
// sandbox's (the pause image's /pause): it stands for the pod, and its
// exit is the sandbox task's.
func podVMSpec(vs *api.VMSpec, spec *specs.Spec) {
	vs.Mounts = append(vs.Mounts, api.Mount{Type: api.MountPod, Target: PodShareTarget})
	a := spec.Annotations
	if n := a[annotationSandboxName]; n != "" {
		vs.Labels[LabelPodName] = n
	}
	if n := a[annotationSandboxNamespace]; n != "" {
		vs.Labels[LabelPodNamespace] = n
	}
	cpus, mem := podResources(a)
	if vs.CPUs == 0 {
		vs.CPUs = cpus
	}
	if vs.MemoryMiB == 0 {
		vs.MemoryMiB = mem
	}
}

// CRI's annotations of a pod's limits on its sandbox's spec: kubelet's
// pod-level resources, the sum of its containers' limits.
const (
	annotationSandboxCPUPeriod = "io.kubernetes.cri.sandbox-cpu-period"
	annotationSandboxCPUQuota  = "io.kubernetes.cri.sandbox-cpu-quota"
	annotationSandboxMemory    = "io.kubernetes.cri.sandbox-memory"
)

// podResources sizes a pod's VM from the pod's limits, as resources
// sizes a container's from its own: the CPU quota over its period in
// whole vCPUs, the memory limit in MiB (at least minMemoryMiB). Zero (no
// limit, or a value that is no number) leaves the daemon's defaults.
func podResources(a map[string]string) (cpus, memMiB int) {
	n := func(key string) int64 {
		v, _ := strconv.ParseInt(a[key], 10, 64)
		return max(v, 0)
	}
	quota, limit, period := n(annotationSandboxCPUQuota), n(annotationSandboxMemory), uint64(n(annotationSandboxCPUPeriod)) //nolint:gosec // not negative
	r := &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}, Memory: &specs.LinuxMemory{Limit: &limit}}
	return resources(&specs.Spec{Linux: &specs.Linux{Resources: r}})
}
