package fctest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/vmm"
)

// SpecFile is the name of the contract in specs/.
const SpecFile = "firecracker-api-v1.16.1.yaml"

// Fake names the fake executables.
type Fake struct {
	// Firecracker is the fake firecracker (its file name contains
	// "firecracker", as the jailer requires).
	Firecracker string
	// Jailer is the fake jailer.
	Jailer string
	// Spec is the swagger file both read.
	Spec string
}

// Binaries builds the fake firecracker and jailer (once per test process)
// and sets FCTEST_SPEC in the test's environment, which the backend passes
// on to the VMM process. Tests using it cannot be parallel (t.Setenv).
func Binaries(t testing.TB) Fake {
	t.Helper()
	spec := testutil.SpecPath(t, SpecFile)
	t.Setenv(EnvSpec, spec)
	return Fake{
		Firecracker: testutil.BuildBinary(t, "./internal/vmm/firecracker/fctest/cmd/firecracker"),
		Jailer:      testutil.BuildBinary(t, "./internal/vmm/firecracker/fctest/cmd/jailer"),
		Spec:        spec,
	}
}

var (
	contractOnce sync.Once
	contract     *Contract
	contractErr  error
)

// LoadSpec parses the contract once per test process.
func LoadSpec(t testing.TB) *Contract {
	t.Helper()
	path := testutil.SpecPath(t, SpecFile)
	contractOnce.Do(func() { contract, contractErr = LoadContract(path) })
	if contractErr != nil {
		t.Fatal(contractErr)
	}
	return contract
}

// Listen serves a fresh contract server on a unix socket in a temp dir
// until the test ends, and returns it with the socket's path.
func Listen(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	sock := filepath.Join(ShortDir(t), "api.sock")
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(LoadSpec(t), opts)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = l.Close(); _ = s.Close() })
	return s, sock
}

// ShortDir is a temp dir with a short path, removed when the test ends:
// unix socket paths are limited to 107 bytes, which t.TempDir's long
// names can exceed.
func ShortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fc") //nolint:usetesting // t.TempDir's path is too long for sockets
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Spec returns a VM spec the fake can start: a kernel, initrd, root and
// data drive as small files, a NIC, a short runtime dir and a console log,
// all removed when the test ends. The shared vmm conformance suite and the
// backend's own tests use it; the fake opens these files as the real VMM
// would, but never reads them.
func Spec(t testing.TB, id string) vmm.Spec {
	t.Helper()
	dir := ShortDir(t)
	rt := filepath.Join(dir, "rt")
	if err := os.Mkdir(rt, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vmlinux", "initrd.img", "rootfs.ext4", "data.img"} {
		content := []byte(f)
		if f == "vmlinux" {
			content = FakeKernel
		}
		if err := os.WriteFile(filepath.Join(dir, f), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tap := "bg-" + id
	if len(tap) > 15 {
		tap = tap[:15]
	}
	return vmm.Spec{
		ID: id, RuntimeDir: rt,
		Kernel:  vmm.Kernel{Vmlinux: filepath.Join(dir, "vmlinux"), Initrd: filepath.Join(dir, "initrd.img")},
		Cmdline: "root=/dev/vda rw -- --banger-boot",
		CPUs:    2, MemoryMiB: 256,
		Drives: []vmm.Drive{
			{ID: "data", Path: filepath.Join(dir, "data.img"), ReadOnly: true},
			{ID: "root", Path: filepath.Join(dir, "rootfs.ext4"), Root: true},
		},
		NICs:       []vmm.NIC{{ID: "eth0", Tap: tap, MAC: "02:fc:00:00:00:01", MTU: 1500}},
		ConsoleLog: filepath.Join(dir, "console.log"),
		AgentPort:  vmm.AgentVsockPort,
	}
}
