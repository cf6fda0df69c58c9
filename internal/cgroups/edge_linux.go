package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Detect reads where this host's memory and pids controllers are.
func Detect() Host {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Host{Why: "read /proc/self/mountinfo: " + err.Error()}
	}
	return Choose(ParseMounts(string(b)), func(point string) ([]string, error) {
		b, err := os.ReadFile(filepath.Join(point, "cgroup.controllers"))
		return strings.Fields(string(b)), err
	})
}

// Check says, without changing anything, whether Apply can make the
// plan's groups: each parent, or its nearest existing ancestor, must be
// writable on a cgroup file system (read-only or not delegated otherwise).
func Check(p Plan) error {
	for _, dir := range p.Parents {
		at := dir
		for {
			if _, err := os.Stat(at); err == nil {
				break
			}
			next := filepath.Dir(at)
			if next == at {
				break
			}
			at = next
		}
		if err := unix.Access(at, unix.W_OK); err != nil {
			return fmt.Errorf("cgroup %s: %w: %s is not writable (%w): the daemon has no delegated cgroup here", dir, errdefs.ErrUnavailable, at, err)
		}
	}
	return nil
}

// Apply makes the plan's parents and groups and writes the limits. On
// cgroup v2 it returns the group directory opened for
// SysProcAttr.CgroupFD (the caller closes it); on v1, nil (see Join). A
// group that exists already (a start that crashed after making it) is
// reused. On failure the groups it made are removed again.
func Apply(p Plan) (dirFD *os.File, err error) {
	for _, dir := range p.Parents {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("make cgroup parent %s: %w", dir, err)
		}
	}
	for _, w := range p.Enable {
		if err := write(w); err != nil {
			return nil, fmt.Errorf("enable %s for children: %w", w.Value, err)
		}
	}
	defer func() {
		if err != nil {
			_ = Remove(p.Groups)
		}
	}()
	for _, g := range p.Groups {
		if err := os.Mkdir(g, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("make cgroup %s: %w", g, err)
		}
	}
	for _, w := range p.Limits {
		if err := write(w); err != nil {
			return nil, fmt.Errorf("set cgroup limit: %w", err)
		}
	}
	if p.Version != 2 {
		return nil, nil
	}
	return os.Open(p.Groups[0])
}

// Join moves pid into each group (cgroup v1, where a process cannot be
// started inside its group; on v2 Apply's descriptor did that).
func Join(p Plan, pid int) error {
	if p.Version == 2 {
		return nil
	}
	for _, g := range p.Groups {
		if err := write(Write{filepath.Join(g, "cgroup.procs"), strconv.Itoa(pid)}); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	return nil
}

func write(w Write) error {
	if err := os.WriteFile(w.Path, []byte(w.Value), 0); err != nil {
		return fmt.Errorf("write %q to %s: %w", w.Value, w.Path, err)
	}
	return nil
}

// Remove removes the groups (dirs from a record). Each must be a
// directory on a cgroup file system; one that is gone already is fine.
// A group whose last task is still exiting answers EBUSY for a moment:
// Remove retries for up to two seconds.
func Remove(dirs []string) error {
	var errs []error
	deadline := time.Now().Add(2 * time.Second)
	for _, d := range slices.Backward(dirs) {
		if err := remove(d, deadline); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func remove(dir string, deadline time.Time) error {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return fmt.Errorf("remove cgroup %q: %w: not a clean absolute path", dir, errdefs.ErrInvalid)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC && st.Type != unix.CGROUP_SUPER_MAGIC {
		return fmt.Errorf("remove cgroup %s: %w: not on a cgroup file system", dir, errdefs.ErrInvalid)
	}
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY) && time.Now().Before(deadline):
			time.Sleep(20 * time.Millisecond)
		default:
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
	}
}

// Children lists the groups under parent: each child's name and its
// directories (one per hierarchy it is in). No parent yet is no children.
func Children(h Host, parent string) (map[string][]string, error) {
	dirs, err := ParentDirs(h, parent)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list cgroups under %s: %w", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() {
				out[e.Name()] = append(out[e.Name()], filepath.Join(dir, e.Name()))
			}
		}
	}
	return out, nil
}

// Usage reads a group's current memory use (bytes) and task count.
func Usage(version int, dirs map[string]string) (memory, tasks int64, err error) {
	memFile := "memory.current"
	if version == 1 {
		memFile = "memory.usage_in_bytes"
	}
	memory, err = readInt(filepath.Join(dirs["memory"], memFile))
	if err != nil {
		return 0, 0, err
	}
	tasks, err = readInt(filepath.Join(dirs["pids"], "pids.current"))
	return memory, tasks, err
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
