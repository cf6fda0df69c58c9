// Package proc identifies host processes across daemon restarts.
//
// A pid alone is not an identity: pids are reused. banger records a VMM as
// (pid, start time in clock ticks since boot — /proc/PID/stat field 22, the
// host's boot_id), so a restarted daemon adopts only the process it started
// and never signals a stranger that happens to hold the same pid.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/internal/procfs"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Identity is a process as banger records it.
type Identity struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	BootID    string `json:"boot_id"`
}

// procRoot is /proc; tests point it elsewhere.
var procRoot = "/proc"

// BootID returns the kernel's random boot id, which changes every boot.
func BootID() (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/random/boot_id"))
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// StartTime returns field 22 of /proc/PID/stat. The command name (field 2)
// may contain spaces and parentheses, so parsing starts after its last ')'.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("process %d: %w", pid, errdefs.ErrNotFound)
		}
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	st, err := parseStartTime(b)
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	return st, nil
}

func parseStartTime(stat []byte) (uint64, error) {
	st, err := procfs.ParseStat(stat)
	return st.StartTime, err
}

// Lookup returns the identity of a live process.
func Lookup(pid int) (Identity, error) {
	st, err := StartTime(pid)
	if err != nil {
		return Identity{}, err
	}
	boot, err := BootID()
	if err != nil {
		return Identity{}, err
	}
	return Identity{PID: pid, StartTime: st, BootID: boot}, nil
}

// Alive reports whether the recorded process is still the same live process:
// same boot, same pid, same start time, and not a zombie.
func (id Identity) Alive() bool {
	if id.PID <= 0 {
		return false
	}
	cur, err := Lookup(id.PID)
	if err != nil || cur != id {
		return false
	}
	return !zombie(id.PID)
}

func zombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// Environ returns the environment of a process, as KEY=VALUE strings.
func Environ(pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "environ"))
	if err != nil {
		return nil, fmt.Errorf("process %d environ: %w", pid, err)
	}
	var env []string
	for _, kv := range bytes.Split(b, []byte{0}) {
		if len(kv) > 0 {
			env = append(env, string(kv))
		}
	}
	return env, nil
}

// FindByEnv returns the pids of live processes whose environment holds
// key=value exactly. It is how the inventory finds a VMM whose pid was never
// recorded (the daemon died between exec and writing handles.json).
func FindByEnv(key, value string) ([]int, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	want := key + "=" + value
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := Environ(pid)
		if err != nil {
			continue // gone, or a kernel thread
		}
		for _, kv := range env {
			if kv == want {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids, nil
}

// EnvPrefixed returns, for every live process whose environment has key set,
// its pid and the value. The leak sweep uses it with BANGER_VM.
func EnvPrefixed(key string) (map[int]string, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	out := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := Environ(pid)
		if err != nil {
			continue
		}
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				out[pid] = v
				break
			}
		}
	}
	return out, nil
}
