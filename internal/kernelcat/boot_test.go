package kernelcat

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// tscKHz returns the host's TSC rate for tsc_early_khz: under TCG,
// -M microvm has no HPET or PM timer and calibration against the PIT hangs
// in some boots (docs/architecture.md, "Traps measured on the build machines").
func tscKHz(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int(mhz * 1000)
			}
		}
	}
	t.Fatal("no cpu MHz in /proc/cpuinfo")
	return 0
}

// bootCheck boots the entry under QEMU TCG with its initramfs and a
// virtio-blk disk, and returns the console output. It boots the extracted
// ELF vmlinux through its PVH entry when it has one — which also proves the
// extraction — (measured here: ~0.4 s faster under TCG than the bzImage,
// whose decompressor then runs emulated), else the bzImage. /init is the
// bootcheck program (testdata/bootcheck), which loads the manifest's
// modules and reports whether /dev/vda appeared.
func bootCheck(t *testing.T, k Kernel) string {
	t.Helper()
	qemu := testutil.RequireQEMU(t)
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kernel := k.BzImage
	if k.PVH {
		kernel = k.Vmlinux
	}
	cmd := exec.CommandContext(ctx, qemu, "-M", "microvm", "-accel", "tcg", "-cpu", "max", "-m", "256", "-smp", "1",
		"-kernel", kernel, "-initrd", k.Initrd,
		"-append", fmt.Sprintf("console=ttyS0 panic=-1 tsc_early_khz=%d", tscKHz(t)),
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-drive", "file="+disk+",if=none,id=d0,format=raw", "-device", "virtio-blk-device,drive=d0")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("QEMU TCG boot to power-off: %v", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("qemu: %v\n%s", err, out)
	}
	return string(out)
}
