//go:build linux

package hostnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// A busybox guest under QEMU TCG, driven line by line over its serial
// console: enough of a VM to put real packets through banger's taps.
// (The qemu backend has its own fixture; the two may merge later.)

// guestModules load in this order: the .deb has no modules.dep.
var guestModules = []string{"virtio_ring", "virtio", "virtio_mmio", "failover", "net_failover", "virtio_net"}

// guestKernel extracts, once per machine, vmlinuz and the virtio-net
// modules from the Debian cloud kernel package, and returns their dir.
func guestKernel(t *testing.T) string {
	t.Helper()
	testutil.RequireBinary(t, "dpkg-deb", "dpkg")
	deb := testutil.DebianKernelDebs(t)
	dir := filepath.Join(testutil.CacheDir(t), "hostnet-guest", strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(filepath.Join(dir, "vmlinuz")); err == nil {
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil { //nolint:gosec // a cache dir
		t.Fatal(err)
	}
	// Next to the cache (not t.TempDir) so the final rename stays on one file system.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".extract-") //nolint:usetesting // see above
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	patterns := []string{"./boot/vmlinuz-*"}
	for _, m := range guestModules {
		patterns = append(patterns, "*/"+m+".ko")
	}
	script := `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards "${@:3}"`
	run(t, "bash", append([]string{"-c", script, "extract", deb, tmp}, patterns...)...)
	kernels, _ := filepath.Glob(filepath.Join(tmp, "boot", "vmlinuz-*"))
	if len(kernels) != 1 {
		t.Fatalf("%s: want one vmlinuz, found %v", deb, kernels)
	}
	out := filepath.Join(tmp, "out")
	if err := os.MkdirAll(filepath.Join(out, "modules"), 0o755); err != nil { //nolint:gosec // a cache dir
		t.Fatal(err)
	}
	if err := os.Rename(kernels[0], filepath.Join(out, "vmlinuz")); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	_ = filepath.WalkDir(filepath.Join(tmp, "lib"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found[strings.TrimSuffix(d.Name(), ".ko")] = p
		}
		return nil
	})
	for _, m := range guestModules {
		if found[m] == "" {
			t.Fatalf("%s: no module %s.ko", deb, m)
		}
		if err := os.Rename(found[m], filepath.Join(out, "modules", m+".ko")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(out, dir); err != nil && !errors.Is(err, os.ErrExist) && !strings.Contains(err.Error(), "not empty") {
		t.Fatal(err)
	}
	return dir
}

// guestInit configures eth0 from bg.* kernel arguments, then runs each
// line read from the console and answers "__DONE <status>".
const guestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ` + "MODULES" + `; do insmod /lib/modules/$m.ko || echo "insmod $m failed"; done
for a in $(cat /proc/cmdline); do
	case "$a" in
	bg.ip=*) ip=${a#bg.ip=} ;;
	bg.gw=*) gw=${a#bg.gw=} ;;
	bg.mtu=*) mtu=${a#bg.mtu=} ;;
	esac
done
ip link set lo up
ip link set eth0 mtu "$mtu" up
ip addr add "$ip" dev eth0
ip route add default via "$gw"
stty -echo
echo READY
while IFS= read -r line; do eval "$line"; echo "__DONE $?"; done
poweroff -f
`

// guestInitrd writes an initramfs (uncompressed newc) with busybox, the
// modules and the init script.
func guestInitrd(t *testing.T, kernelDir string) string {
	t.Helper()
	testutil.RequireBinary(t, "cpio", "cpio")
	busybox := testutil.RequireBinary(t, "busybox", "busybox-static")
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"bin", "lib/modules", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil { //nolint:gosec // initramfs tree
			t.Fatal(err)
		}
	}
	run(t, "cp", busybox, filepath.Join(root, "bin", "busybox"))
	for _, m := range guestModules {
		run(t, "cp", filepath.Join(kernelDir, "modules", m+".ko"), filepath.Join(root, "lib", "modules"))
	}
	script := strings.Replace(guestInit, "MODULES", strings.Join(guestModules, " "), 1)
	if err := os.WriteFile(filepath.Join(root, "init"), []byte(script), 0o755); err != nil { //nolint:gosec // init must be executable
		t.Fatal(err)
	}
	out := filepath.Join(filepath.Dir(root), "initrd.cpio")
	run(t, "bash", "-c", `cd "$1" && find . | cpio -o -H newc --quiet > "$2"`, "cpio", root, out)
	return out
}

// tscKHz is the host's TSC rate for tsc_early_khz (docs/architecture.md,
// "Traps": microvm under TCG may hang calibrating against the PIT without it).
func tscKHz(t *testing.T) int {
	t.Helper()
	for l := range strings.SplitSeq(readFileT(t, "/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int(mhz * 1000)
			}
		}
	}
	t.Fatal("no cpu MHz in /proc/cpuinfo")
	return 0
}

// guest is a running VM.
type guest struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	mu    sync.Mutex
	log   []string // everything the console printed, for failure messages
}

type guestSpec struct {
	Name, Tap, MAC, Addr, Gateway string
	MTU                           int
}

// startGuest starts QEMU on the tap; ready waits for the guest's network.
// Guests started one after another boot in parallel. The VM is killed at
// the end of the test.
func startGuest(t *testing.T, kernelDir, initrd string, s guestSpec) *guest {
	t.Helper()
	qemu := testutil.RequireQEMU(t)
	appendArgs := fmt.Sprintf("console=ttyS0 loglevel=1 panic=-1 tsc_early_khz=%d bg.ip=%s bg.gw=%s bg.mtu=%d", tscKHz(t), s.Addr, s.Gateway, s.MTU)
	cmd := exec.CommandContext(context.Background(), qemu, //nolint:gosec // test VM
		"-M", "microvm", "-cpu", "max", "-accel", "tcg", "-m", "128", "-smp", "1",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
		"-kernel", filepath.Join(kernelDir, "vmlinuz"), "-initrd", initrd, "-append", appendArgs,
		"-netdev", "tap,id=n0,ifname="+s.Tap+",script=no,downscript=no",
		"-device", "virtio-net-device,netdev=n0,mac="+s.MAC,
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &guest{name: s.Name, cmd: cmd, stdin: stdin, lines: make(chan string, 256)}
	t.Cleanup(g.kill)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l := strings.TrimRight(sc.Text(), "\r")
			g.mu.Lock()
			g.log = append(g.log, l)
			g.mu.Unlock()
			g.lines <- l
		}
		close(g.lines)
	}()
	return g
}

// ready waits until the guest has configured eth0 and reads commands.
func (g *guest) ready(t *testing.T) {
	t.Helper()
	start := time.Now()
	g.waitFor(t, "READY", 120*time.Second)
	t.Logf("guest %s ready in %s", g.name, time.Since(start).Round(10*time.Millisecond))
}

func (g *guest) kill() {
	_ = g.stdin.Close()
	if g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
		_ = g.cmd.Wait()
	}
}

func (g *guest) console() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.log, "\n")
}

// waitFor reads console lines until one starts with prefix, and returns
// the lines before it and that line.
func (g *guest) waitFor(t *testing.T, prefix string, timeout time.Duration) ([]string, string) {
	t.Helper()
	var before []string
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-g.lines:
			if !ok {
				t.Fatalf("guest %s exited while waiting for %q; console:\n%s", g.name, prefix, g.console())
			}
			if strings.HasPrefix(l, prefix) {
				return before, l
			}
			before = append(before, l)
		case <-deadline:
			t.Fatalf("guest %s: no %q within %s; console:\n%s", g.name, prefix, timeout, g.console())
		}
	}
}

// sh runs one shell line in the guest and returns its output and status.
func (g *guest) sh(t *testing.T, line string) (string, int) {
	t.Helper()
	if _, err := io.WriteString(g.stdin, line+"\n"); err != nil {
		t.Fatalf("guest %s: %v", g.name, err)
	}
	out, done := g.waitFor(t, "__DONE ", 60*time.Second)
	status, _ := strconv.Atoi(strings.TrimPrefix(done, "__DONE "))
	return strings.Join(out, "\n"), status
}
