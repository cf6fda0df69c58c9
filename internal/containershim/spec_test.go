package containershim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestVMName(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tc := range []struct{ ns, id, want string }{
		{"default", "web", "default-web"},
		{"k8s.io", "abc", "k8s.io-abc"},
		{"default", long, VMName("default", long)},
	} {
		got := VMName(tc.ns, tc.id)
		if got != tc.want || !vmNameRE.MatchString(got) {
			t.Errorf("VMName(%q, %q) = %q, want %q and a valid VM name", tc.ns, tc.id, got, tc.want)
		}
	}
	if a, b := VMName("default", long), VMName("other", long); a == b || !strings.HasPrefix(a, "ctr-") {
		t.Errorf("long ids: %q and %q; want distinct ctr- names per namespace", a, b)
	}
}

func TestSharedKey(t *testing.T) {
	empty, full := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ov := func(upper, lower string) mount.Mount {
		return mount.Mount{Type: "overlay", Options: []string{"workdir=/w", "upperdir=" + upper, "lowerdir=" + lower}}
	}
	k1, _ := sharedKey([]mount.Mount{ov(empty, "/l/2:/l/1")})
	for _, tc := range []struct {
		name   string
		mounts []mount.Mount
		shared bool
		same   bool
	}{
		{"same layers, another empty upper", []mount.Mount{ov(t.TempDir(), "/l/2:/l/1")}, true, true},
		{"other layers", []mount.Mount{ov(empty, "/l/3:/l/1")}, true, false},
		{"written upper", []mount.Mount{ov(full, "/l/2:/l/1")}, false, false},
		{"read-only bind of a layer", []mount.Mount{{Type: "bind", Source: "/l/1", Options: []string{"ro", "rbind"}}}, true, false},
		{"writable bind", []mount.Mount{{Type: "bind", Source: "/l/1", Options: []string{"rw", "rbind"}}}, false, false},
		{"no mounts", nil, false, false},
		{"two mounts", []mount.Mount{ov(empty, "/l/1"), ov(empty, "/l/1")}, false, false},
	} {
		k, ok := sharedKey(tc.mounts)
		if ok != tc.shared || (ok && (k == k1) != tc.same) {
			t.Errorf("%s: key %q shared %v; want shared %v, same as the first %v", tc.name, k, ok, tc.shared, tc.same)
		}
	}
}

func TestVMExitCode(t *testing.T) {
	code := func(n int) *int { return &n }
	for _, tc := range []struct {
		vm   api.VM
		want int
	}{
		{api.VM{ExitCode: code(0)}, 0},
		{api.VM{ExitCode: code(3)}, 3},
		{api.VM{ExitCode: code(143), ExitSignal: "SIGTERM"}, 143},
		{api.VM{ExitReason: "killed: agent unresponsive"}, 137},
		{api.VM{}, 137},
	} {
		if got := vmExitCode(tc.vm); got != tc.want {
			t.Errorf("vmExitCode(%+v) = %d, want %d", tc.vm, got, tc.want)
		}
	}
}

func TestToGRPCKinds(t *testing.T) {
	for _, tc := range []struct{ banger, containerd error }{
		{errdefs.ErrNotFound, cerrdefs.ErrNotFound},
		{errdefs.ErrExists, cerrdefs.ErrAlreadyExists},
		{errdefs.ErrConflict, cerrdefs.ErrFailedPrecondition},
		{errdefs.ErrUnsupported, cerrdefs.ErrNotImplemented},
		{errors.New("boom"), cerrdefs.ErrUnknown},
	} {
		err := errgrpc.ToNative(toGRPC(fmt.Errorf("vm x: %w", tc.banger)))
		if !errors.Is(err, tc.containerd) || !strings.Contains(err.Error(), "vm x") {
			t.Errorf("%v across ttrpc: %v, want %v with the message", tc.banger, err, tc.containerd)
		}
	}
}

func TestMetrics(t *testing.T) {
	used, total, rd := uint64(10<<20), uint64(256<<20), uint64(4096)
	m := metrics(api.VMStats{PIDs: 3, VMMRSSBytes: 99, GuestMemoryUsedBytes: &used, GuestMemoryTotalBytes: &total, BlockReadBytes: &rd})
	if m.Memory.Usage != used || m.Memory.UsageLimit != total || m.Pids.Current != 3 || m.Io.Usage[0].Rbytes != rd || m.Network != nil {
		t.Errorf("metrics %+v: want the guest's memory, 3 pids, the drives' reads, no network", m)
	}
	if m := metrics(api.VMStats{VMMRSSBytes: 99}); m.Memory.Usage != 99 {
		t.Errorf("paused VM: memory %d, want the VMM's RSS 99", m.Memory.Usage)
	}
}

func TestReadSpecRefusesNoProcess(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"process":{"args":[]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readSpec(dir); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "process.args") {
		t.Errorf("readSpec of no args: %v", err)
	}
}

func TestResources(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	u64 := func(n uint64) *uint64 { return &n }
	for _, tc := range []struct {
		name      string
		res       *specs.LinuxResources
		cpus, mem int
	}{
		{"no limits", nil, 0, 0},
		{"1.5 CPUs and 300 MB", &specs.LinuxResources{
			CPU:    &specs.LinuxCPU{Quota: i64(150000), Period: u64(100000)},
			Memory: &specs.LinuxMemory{Limit: i64(300_000_000)},
		}, 2, 287},
		{"a limit under the floor", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(32 << 20)}}, 0, minMemoryMiB},
		{"unlimited quota", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1), Period: u64(100000)}}, 0, 0},
	} {
		cpus, mem := resources(&specs.Spec{Linux: &specs.Linux{Resources: tc.res}})
		if cpus != tc.cpus || mem != tc.mem {
			t.Errorf("%s: %d CPUs, %d MiB; want %d, %d", tc.name, cpus, mem, tc.cpus, tc.mem)
		}
	}
}

func TestPodResources(t *testing.T) {
	for _, tt := range []struct {
		a          map[string]string
		cpus, mMiB int
	}{
		{nil, 0, 0},
		{map[string]string{annotationSandboxCPUQuota: "150000", annotationSandboxCPUPeriod: "100000", annotationSandboxMemory: "536870912"}, 2, 512},
		{map[string]string{annotationSandboxCPUQuota: "0", annotationSandboxCPUPeriod: "100000", annotationSandboxMemory: "0"}, 0, 0},
		{map[string]string{annotationSandboxCPUQuota: "-1", annotationSandboxCPUPeriod: "100000", annotationSandboxMemory: "1048576"}, 0, minMemoryMiB},
		{map[string]string{annotationSandboxCPUQuota: "x", annotationSandboxMemory: "lots"}, 0, 0},
	} {
		if cpus, mem := podResources(tt.a); cpus != tt.cpus || mem != tt.mMiB {
			t.Errorf("podResources(%v) = %d CPUs, %d MiB; want %d, %d", tt.a, cpus, mem, tt.cpus, tt.mMiB)
		}
	}
}
