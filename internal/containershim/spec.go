package containershim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// The annotations and labels the shim reads and writes.
const (
	// AnnotationImageName is the image CRI made the container of: with
	// it, the shim pulls the image by name instead of importing the
	// snapshot's tree.
	AnnotationImageName = "io.kubernetes.cri.image-name"
	// LabelNamespace and LabelID are put on each VM: the containerd
	// namespace and container id it runs.
	LabelNamespace = "io.containerd.namespace"
	LabelID        = "io.containerd.container.id"
)

// maxSpec bounds the config.json read.
const maxSpec = 4 << 20

// readSpec reads the OCI runtime spec of the bundle at dir.
func readSpec(dir string) (*specs.Spec, error) {
	f, err := os.Open(filepath.Join(dir, "config.json")) //nolint:gosec // containerd's bundle
	if err != nil {
		return nil, fmt.Errorf("read the bundle's spec: %w", err)
	}
	defer func() { _ = f.Close() }()
	var s specs.Spec
	info, err := f.Stat()
	if err == nil && info.Size() > maxSpec {
		return nil, fmt.Errorf("%w: %s is %d bytes, over the %d limit", errdefs.ErrInvalid, f.Name(), info.Size(), maxSpec)
	}
	if err := json.NewDecoder(f).Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: decode %s: %w", errdefs.ErrInvalid, f.Name(), err)
	}
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, fmt.Errorf("%w: %s names no process to run (process.args)", errdefs.ErrInvalid, f.Name())
	}
	return &s, nil
}

// vmSpec is the VM a container's process runs as: its argv replaces the
// image's entrypoint and cmd (containerd already merged them), with its
// environment, directory and user; a terminal when the task or its
// process asks for one, stdin when containerd gives a FIFO for it.
func vmSpec(s *specs.Spec, image string, stdin, terminal bool, labels map[string]string) api.VMSpec {
	p := s.Process
	spec := api.VMSpec{
		Image:       image,
		Entrypoint:  append([]string(nil), p.Args...),
		Env:         append([]string(nil), p.Env...),
		WorkingDir:  p.Cwd,
		TTY:         terminal || p.Terminal,
		Interactive: stdin,
		Labels:      labels,
	}
	spec.User = processUser(p.User)
	spec.CPUs, spec.MemoryMiB = resources(s)
	return spec
}

// processUser is an OCI process's user as banger takes it, uid:gid; root
// (0:0) is "", the image's user.
func processUser(u specs.User) string {
	if u.UID == 0 && u.GID == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(u.UID), 10) + ":" + strconv.FormatUint(uint64(u.GID), 10)
}

// minMemoryMiB is the least guest RAM a memory limit gives: the guest's
// kernel and agent need some besides the container.
const minMemoryMiB = 128

// resources sizes the VM from the container's limits: the CPU quota over
// its period rounded up to whole vCPUs, the memory limit rounded up to
// MiB (at least minMemoryMiB). Zero (no limit) leaves the daemon's
// defaults.
func resources(s *specs.Spec) (cpus, memMiB int) {
	if s.Linux == nil || s.Linux.Resources == nil {
		return 0, 0
	}
	r := s.Linux.Resources
	if c := r.CPU; c != nil && c.Quota != nil && *c.Quota > 0 && c.Period != nil && *c.Period > 0 {
		period := int64(*c.Period) //nolint:gosec // a period in µs
		cpus = int((*c.Quota + period - 1) / period)
	}
	if m := r.Memory; m != nil && m.Limit != nil && *m.Limit > 0 {
		memMiB = max(int((*m.Limit+1<<20-1)>>20), minMemoryMiB)
	}
	return cpus, memMiB
}

// vmNameRE is what the daemon accepts as a VM name.
var vmNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// VMName is the name of the VM that runs container id of a containerd
// namespace: "NAMESPACE-ID" when that is a valid VM name, else "ctr-"
// and a digest of both (CRI's ids are 64 characters, over the limit).
func VMName(namespace, id string) string {
	if n := namespace + "-" + id; vmNameRE.MatchString(n) {
		return n
	}
	sum := sha256.Sum256([]byte(namespace + "/" + id))
	return "ctr-" + hex.EncodeToString(sum[:16])
}
