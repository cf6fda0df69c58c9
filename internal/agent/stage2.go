package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/agent/cgroup"
	"github.com/bangerdev/banger/internal/agent/ctrroot"
	"github.com/bangerdev/banger/internal/agent/initplan"
	"github.com/bangerdev/banger/internal/agent/mounts"
	"github.com/bangerdev/banger/internal/agent/power"
	"github.com/bangerdev/banger/internal/agent/process"
	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/procfs"
)

// configWait bounds the wait for the config drive's device node.
const configWait = 5 * time.Second

// stage2 is PID 1 in the image root. It never returns.
func stage2(console io.Writer) {
	logf := func(format string, a ...any) { _, _ = fmt.Fprintf(console, "banger-agent: "+format+"\n", a...) }
	mountAPI(logf)
	cmdline := readCmdline()
	halt := func(reboot bool) {
		haltNow(reboot || cmdline.Halt == "reboot")
	}
	fatal := func(err error) {
		logf("%v", err)
		halt(false)
	}
	if err := power.DisableCAD(); err != nil {
		logf("ctrl-alt-del: %v", err)
	}
	if cmdline.Config == "" {
		fatal(fmt.Errorf("no %s= on the kernel command line: nothing to serve", bootcfg.ArgConfig))
	}
	if err := waitPath(cmdline.Config, configWait); err != nil {
		fatal(fmt.Errorf("config drive %s: %w", cmdline.Config, err))
	}
	cfg, err := bootcfg.Read(cmdline.Config)
	if err != nil {
		fatal(err)
	}
	if cfg.Hold {
		// A held boot: the seed (the host's first handshake needs it),
		// and nothing else until the apply (hold.go); the root stays the
		// image's, read-only.
		if len(cfg.EntropySeed) > 0 {
			if err := seedEntropy(cfg.EntropySeed); err != nil {
				logf("entropy seed: %v", err)
			}
		}
	} else {
		bootOwnConfig(cfg, cmdline, logf, fatal)
	}

	ctx := context.Background()
	reaper := process.NewReaper()
	go reaper.Run(ctx)
	var svc *Service
	svc, err = NewService(cfg, ServiceOptions{
		Console: console, Reaper: reaper, PID1: true,
		Halt: halt, SFTPServer: selfSFTP(), Logf: logf,
		Containers: ctrroot.Linux{},
		MainCgroup: func() (*os.File, error) { return cgroup.Setup("/sys/fs/cgroup", "/proc/meminfo") },
		Configure: func(own bootcfg.Config, now time.Time) error {
			took, err := applyHeld(own, now)
			if err != nil {
				return err
			}
			// The channels the held config could not open (TCP needs
			// the VM's address).
			serveListens(svc, newListens(defaultListens(cfg), defaultListens(own)), logf)
			logf("applied the config of VM %s (%s)", own.VMID, took)
			return nil
		},
		Reidentify: func(prev, own bootcfg.Config, now time.Time) error {
			if err := reidentify(own, now); err != nil {
				return err
			}
			// TCP on the new address (the old one's listener is left
			// bound to an address the guest no longer has).
			serveListens(svc, newListens(defaultListens(prev), defaultListens(own)), logf)
			logf("re-identified: VM %s, forked from VM %s", own.VMID, prev.VMID)
			return nil
		},
	})
	if err != nil {
		fatal(err)
	}
	// Watch the power button before answering the host: a press that
	// arrives before anyone listens is lost (measured under QEMU).
	go power.WatchPowerButton(ctx, func() { svc.Shutdown(proto.ShutdownPayload{}) })
	serveListens(svc, defaultListens(cfg), logf)
	// SIGTERM (a host's kill), SIGINT (Ctrl-Alt-Del after DisableCAD),
	// SIGPWR (some VMMs' power events) and the ACPI power button all stop
	// the VM cleanly.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPWR)
	go func() {
		for range sigs {
			svc.Shutdown(proto.ShutdownPayload{})
		}
	}()
	svc.Run(ctx)
	select {} // Run returns only if Halt returned: never exit PID 1
}

// bootOwnConfig does a boot's duties from the VM's own config (not held):
// setup, the volumes, and --init's hand-over (which returns only on
// failure).
func bootOwnConfig(cfg bootcfg.Config, cmdline bootcfg.Cmdline, logf func(string, ...any), fatal func(error)) {
	for _, err := range setup(cfg) {
		logf("%v", err) // a half-configured guest still serves exec, to debug it
	}
	// A volume that cannot be mounted stops the boot: the host reports
	// the console line rather than run the workload without its data.
	if err := mounts.Apply(cfg.Mounts, mounts.Linux{}); err != nil {
		fatal(err)
	}
	if cfg.Init {
		handOverToInit(cfg, cmdline, logf)
		fatal(fmt.Errorf("exec %s: failed", cfg.EffectiveInitPath()))
	}
}

// mountAPI mounts /proc first (mountinfo lives there), then whatever else
// is missing (apiPlan).
func mountAPI(logf func(string, ...any)) {
	m := initplan.Linux{}
	if _, err := os.Stat("/proc/self"); err != nil {
		if err := initplan.Apply(initplan.Plan{Mounts: initplan.Initramfs().Mounts[:1]}, m); err != nil {
			logf("%v", err)
		}
	}
	if err := initplan.Apply(apiPlan(), m); err != nil {
		logf("%v", err)
	}
}

// apiPlan is initplan.Stage2 for what is mounted now. It makes no
// directory on a read-only root: a held boot's, the image's until the
// apply makes it writable and runs this again.
func apiPlan() initplan.Plan {
	mounted := map[string]bool{"/": true}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		infos, _ := procfs.ParseMountinfo(f)
		_ = f.Close()
		mounted = initplan.MountPoints(infos)
	}
	p := initplan.Stage2(mounted)
	var st unix.Statfs_t
	if unix.Statfs("/", &st) == nil && st.Flags&unix.ST_RDONLY != 0 {
		p.Dirs = nil
	}
	return p
}

func readCmdline() bootcfg.Cmdline {
	b, _ := os.ReadFile("/proc/cmdline")
	return bootcfg.ParseCmdline(string(b))
}

func waitPath(p string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := os.Stat(p)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// othersGrace is how long the processes besides the main one get between
// SIGTERM and SIGKILL when the VM ends.
const othersGrace = time.Second

// haltNow ends the VM: every other process gets SIGTERM and, after a short
// grace, SIGKILL; the file systems are synced and the root remounted
// read-only, so nothing written is lost; then power off (or reboot).
func haltNow(reboot bool) {
	n := stopEveryone(othersGrace)
	_, _ = fmt.Fprintf(os.Stderr, "banger-agent: powering off: %d other processes stopped, syncing\n", n)
	unix.Sync()
	_ = unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
	if err := power.Halt(reboot); err != nil {
		_, _ = fmt.Fprintf(os.Stderr, "banger-agent: halt: %v\n", err)
	}
	select {}
}

// stopEveryone sends every process but PID 1 SIGTERM, waits until none is
// left or grace passed, then SIGKILLs the rest (kill(-1) spares PID 1). It
// returns how many there were.
func stopEveryone(grace time.Duration) int {
	n := othersLeft()
	if n > 0 && unix.Kill(-1, unix.SIGTERM) == nil {
		deadline := time.Now().Add(grace)
		for time.Now().Before(deadline) && othersLeft() > 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	_ = unix.Kill(-1, unix.SIGKILL)
	return n
}

// othersLeft counts the user processes other than PID 1 (kernel threads
// have an empty command line). Zombies do not count: PID 1's reaper
// collects them.
func othersLeft() int {
	pids, _ := procfs.Proc.PIDs()
	n := 0
	for _, pid := range pids {
		if pid == 1 {
			continue
		}
		if argv, err := procfs.Proc.Cmdline(pid); err == nil && len(argv) > 0 {
			n++
		}
	}
	return n
}

// handOverToInit starts the agent's service as a child and execs the
// image's init as PID 1 (--init). It returns only when the exec failed.
func handOverToInit(cfg bootcfg.Config, cmdline bootcfg.Cmdline, logf func(string, ...any)) {
	self, err := os.Executable()
	if err != nil {
		logf("%v", err)
		return
	}
	child := exec.CommandContext(context.Background(), self, "serve", "-child", "-config", cmdline.Config)
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		logf("start the agent service: %v", err)
		return
	}
	initPath := cfg.EffectiveInitPath()
	err = unix.Exec(initPath, []string{initPath}, os.Environ())
	logf("exec %s: %v", initPath, errors.Unwrap(err))
}
