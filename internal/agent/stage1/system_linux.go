package stage1

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/agent/initplan"
	"github.com/bangerdev/banger/internal/agent/power"
	"github.com/bangerdev/banger/internal/bootcfg"
)

// Applies reports whether this PID 1 is stage 1: the manifest exists and
// "/" is the initramfs (ramfs or tmpfs), never an image root.
func Applies() bool {
	if _, err := os.Stat(ManifestPath); err != nil {
		return false
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return false
	}
	return st.Type == unix.RAMFS_MAGIC || st.Type == unix.TMPFS_MAGIC
}

// Main runs stage 1 and never returns: it execs stage 2, or prints why it
// could not and halts.
func Main(console io.Writer) {
	fail := func(halt string, err error) {
		_, _ = fmt.Fprintf(console, "banger-agent: stage 1: %v\n", err)
		_ = power.Halt(halt == "reboot")
		select {} // PID 1 must not exit
	}
	if err := initplan.Apply(initplan.Initramfs(), initplan.Linux{}); err != nil {
		fail("poweroff", err)
	}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		fail("poweroff", err)
	}
	cmd := bootcfg.ParseCmdline(string(b))
	mb, err := os.ReadFile(ManifestPath)
	if err != nil {
		fail(cmd.Halt, err)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		fail(cmd.Halt, err)
	}
	p, err := NewPlan(m, cmd)
	if err != nil {
		fail(cmd.Halt, err)
	}
	fail(cmd.Halt, Run(p, Linux{}))
}

// Linux is the real System.
type Linux struct{}

// LoadModule loads a module with finit_module.
func (Linux) LoadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("finit_module: unknown symbol (a module it depends on is missing or later in the list): %w", err)
		}
		return fmt.Errorf("finit_module: %w", err)
	}
	return nil
}

// WaitDevice polls for path (devtmpfs creates the node when the driver
// finds the disk).
func (Linux) WaitDevice(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// MkdirAll makes a directory.
func (Linux) MkdirAll(path string) error { return os.MkdirAll(path, 0o755) }

// Mount mounts.
func (Linux) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}

// Exists reports whether path exists.
func (Linux) Exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// SwitchRoot frees the initramfs, moves newRoot onto "/" and execs init,
// as busybox's switch_root does.
func (Linux) SwitchRoot(newRoot, init string) error {
	var rootSt unix.Stat_t
	if err := unix.Stat("/", &rootSt); err != nil {
		return err
	}
	removeInitramfs("/", rootSt.Dev, newRoot)
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(newRoot, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return err
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return unix.Exec(init, []string{init}, os.Environ())
}

// removeInitramfs deletes the initramfs's files (they would pin its memory
// forever), never crossing into another file system.
func removeInitramfs(dir string, dev uint64, skip string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if p == skip {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Dev != dev {
			continue
		}
		if e.IsDir() {
			removeInitramfs(p, dev, skip)
		}
		_ = os.Remove(p)
	}
}
