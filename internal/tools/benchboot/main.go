// Command benchboot is `make bench-boot`: in one run it times
// `banger run --rm IMAGE -- true` (warm: image and kernel present) against a
// bare qemu-system-x86_64 boot of the same kernel, initramfs and disk to
// power-off, several rounds interleaved, and prints both medians, their
// ratio and the median of each phase `banger run --timings` reports.
//
// The bare boot reuses the QEMU command line banger built (read from a
// running banger VM's /proc/PID/cmdline, the descriptors banger hands QEMU
// turned back into paths, without the confinement: see plainArgv), with
// its own copy-on-write disk,
// a config drive whose main process is `true`, no NIC and no wait for a
// host to collect the exit status: what QEMU alone costs for this guest.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/tools/benchdaemon"
	"github.com/bangerdev/banger/internal/vmm"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-boot:", err)
		os.Exit(1)
	}
}

type bench struct {
	d *benchdaemon.Daemon
}

func run() error {
	var (
		banger = flag.String("banger", "bin/banger", "banger binary")
		kernel = flag.String("kernel-deb", "", "Debian linux-image .deb to import")
		image  = flag.String("image-tar", "", "root file system tarball to import")
		rounds = flag.Int("rounds", 7, "timed rounds of each boot")
		stops  = flag.Int("stop-rounds", 0, "timed rounds of stop and kill (bench-stop)")
		start  = flag.Bool("start", false, "restored vs cold vs bare boots, and the memory of 5 VMs each way (bench-start)")
		forks  = flag.Int("fork", 0, "fork a running VM this many times: time to exec, frozen time, memory (bench-fork)")
	)
	flag.Parse()
	if *kernel == "" || *image == "" {
		return errors.New("need -kernel-deb and -image-tar")
	}
	d, err := benchdaemon.Start(*banger, "bgb", 216, *kernel, *image)
	if err != nil {
		return err
	}
	defer d.Stop()
	b := &bench{d: d}
	if _, err := b.cli("run", "--rm", "--cold", "bench", "--", "true"); err != nil { // warm-up
		return err
	}
	if *forks > 0 {
		return b.benchFork(*forks)
	}
	if *stops > 0 {
		if err := b.benchStop(*stops); err != nil {
			return err
		}
	}
	if *rounds == 0 {
		return nil
	}
	argv, backing, err := b.qemuArgv()
	if err != nil {
		return err
	}
	bare, cleanup, err := b.bareBoot(argv, backing)
	if err != nil {
		return err
	}
	defer cleanup()
	if *start {
		return b.benchStart(*rounds, bare)
	}

	var bangerT, bareT []float64
	phases := map[string][]float64{}
	for i := range *rounds {
		d, err := b.timedRun(phases, "--cold")
		if err != nil {
			return err
		}
		bangerT = append(bangerT, d)
		q, err := bare()
		if err != nil {
			return err
		}
		bareT = append(bareT, secs(q))
		fmt.Printf("round %d: banger %.3fs  bare qemu %.3fs\n", i+1, bangerT[i], bareT[i])
	}
	mb, mq := benchdaemon.Median(bangerT), benchdaemon.Median(bareT)
	fmt.Printf("\nbanger run --rm --cold IMG -- true   median %.3fs\n", mb)
	fmt.Printf("bare qemu boot to power-off          median %.3fs\n", mq)
	fmt.Printf("ratio banger/bare                    %.2fx  (target <= 1.15x)\n\n", mb/mq)
	printPhases("banger phases, median (ms):", phases)
	return nil
}

// timedRun times one `banger run --rm --timings bench -- true` with extra
// flags and adds the phases it reports to phases.
func (b *bench) timedRun(phases map[string][]float64, flags ...string) (float64, error) {
	args := append(append([]string{"run", "--rm", "--timings"}, flags...), "bench", "--", "true")
	t0 := time.Now()
	errOut, err := b.cli(args...)
	if err != nil {
		return 0, err
	}
	d := secs(time.Since(t0))
	var tm map[string]any
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &tm); err == nil {
		for k, v := range tm {
			if ms, ok := v.(float64); ok {
				phases[k] = append(phases[k], ms)
			}
		}
	}
	return d, nil
}

// printPhases prints each phase's median in the pipeline's order.
func printPhases(title string, phases map[string][]float64) {
	fmt.Println(title)
	keys := make([]string, 0, len(phases))
	for k := range phases {
		keys = append(keys, k)
	}
	// The stages' names (vms.Service.pipeline's order), then the CLI's
	// steps; phases this list does not know come last, by name.
	order := []string{"image", "kernel", "backend", "fork", "disk", "network", "rundir", "volumes", "bootcfg", "queue", "vmm", "restore", "agent", "checkpoint", "save", "identity", "reidentify", "output", "command", "teardown", "total"}
	rank := func(k string) int {
		if i := slices.Index(order, k); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.Sort(keys)
	sort.SliceStable(keys, func(i, j int) bool { return rank(keys[i]) < rank(keys[j]) })
	for _, k := range keys {
		fmt.Printf("  %-14s %9.1f\n", k, benchdaemon.Median(phases[k]))
	}
}

// cli runs banger and returns its stderr.
func (b *bench) cli(args ...string) (string, error) {
	_, errOut, err := b.d.CLI(args...)
	return errOut, err
}

// cliOut runs the CLI and returns its stdout.
func (b *bench) cliOut(args ...string) (string, error) {
	out, _, err := b.d.CLI(args...)
	return out, err
}

// qemuArgv starts a detached VM and reads the QEMU command line banger
// built for it, and the image its disk overlay is backed by.
func (b *bench) qemuArgv() ([]string, string, error) {
	out, err := b.cliOut("run", "-d", "--cold", "--name", "argv", "bench")
	if err != nil {
		return nil, "", err
	}
	defer func() { _, _ = b.cli("rm", "-f", "argv") }()
	pids, err := proc.FindByEnv(vmm.EnvVMID, strings.TrimSpace(out))
	if err != nil || len(pids) != 1 {
		return nil, "", fmt.Errorf("find the VMM of %s: %v: %w", out, pids, err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pids[0]))
	if err != nil {
		return nil, "", err
	}
	files, err := b.inheritedFiles("argv")
	if err != nil {
		return nil, "", err
	}
	argv := plainArgv(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"), func(fd string) string { return files[fd] })
	for _, a := range argv {
		if strings.Contains(a, "format=qcow2") {
			return argv, backingFile(a), nil
		}
	}
	return nil, "", fmt.Errorf("no qcow2 root disk in banger's QEMU command line %q", argv)
}

// bareBoot prepares the bare QEMU run and returns a function that boots it
// once (from a fresh copy-on-write disk) and returns its duration.
func (b *bench) bareBoot(argv []string, image string) (func() (time.Duration, error), func(), error) {
	dir := filepath.Join(b.d.Root(), "bare")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	var args []string
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case strings.HasPrefix(a, "socket,id=qmp,"):
			args = append(args, "socket,id=qmp,path="+filepath.Join(dir, "qmp.sock")+",server=on,wait=off")
			continue
		case strings.HasPrefix(a, "socket,id=agent,"):
			args = append(args, "socket,id=agent,path="+filepath.Join(dir, "agent.sock")+",server=on,wait=off")
			continue
		case strings.HasPrefix(a, "file,id=console,"):
			args = append(args, "file,id=console,path="+filepath.Join(dir, "console.log"))
			continue
		case a == "-netdev":
			i += 3 // -netdev X -device Y: the bare boot has no NIC
			continue
		case strings.Contains(a, "format=qcow2"):
			args = append(args, "id=disk0,if=none,file="+filepath.Join(dir, "disk.qcow2")+",format=qcow2,discard=unmap")
			continue
		case strings.Contains(a, "config.img"):
			args = append(args, "id=disk1,if=none,file="+filepath.Join(dir, "config.img")+",format=raw,readonly=on")
			continue
		}
		args = append(args, a)
	}
	if image == "" {
		return nil, nil, errors.New("cannot tell which image the VM's disk is backed by")
	}
	if err := writeConfigDrive(filepath.Join(dir, "config.img")); err != nil {
		return nil, nil, err
	}
	boot := func() (time.Duration, error) {
		disk := filepath.Join(dir, "disk.qcow2")
		_ = os.Remove(disk)
		if out, err := exec.CommandContext(context.Background(), "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", image, disk).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("qemu-img: %w: %s", err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		t0 := time.Now()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("bare qemu: %w: %s", err, out)
		}
		return time.Since(t0), nil
	}
	return boot, func() { _ = os.RemoveAll(dir) }, nil
}

// backingFile finds the image the VM's qcow2 overlay is backed by.
func backingFile(drive string) string {
	for _, kv := range strings.Split(drive, ",") {
		if p, ok := strings.CutPrefix(kv, "file="); ok {
			out, err := exec.CommandContext(context.Background(), "qemu-img", "info", "-U", "--output=json", p).Output()
			if err != nil {
				return ""
			}
			var info struct {
				Backing string `json:"full-backing-filename"`
			}
			_ = json.Unmarshal(out, &info)
			return info.Backing
		}
	}
	return ""
}

// writeConfigDrive writes a boot config that runs `true` and powers off at
// once: no host will collect the exit status.
func writeConfigDrive(path string) error {
	hk, err := agentclient.NewHostKey()
	if err != nil {
		return err
	}
	ck, err := agentclient.NewClientKey()
	if err != nil {
		return err
	}
	return bootcfg.Write(path, bootcfg.Config{
		VMID:       "bench",
		Hostname:   "bench",
		SSH:        bootcfg.SSH{HostKey: string(hk.PEM), AuthorizedKeys: []string{ck.AuthorizedKey()}},
		Main:       &bootcfg.Process{Argv: []string{"true"}, Env: []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin"}},
		Channels:   bootcfg.Channels{VirtioPort: vmm.AgentPortName},
		ExitWaitMS: 1,
	})
}

func secs(d time.Duration) float64 { return d.Seconds() }
