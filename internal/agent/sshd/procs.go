package sshd

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agent/users"
	"github.com/bangerdev/banger/internal/procfs"
)

// processes lists the guest's processes from root's /proc, sorted by pid,
// with user names from root's /etc/passwd. A process that ends while it is
// read is left out.
func processes(root string) []proto.Process {
	fs := procfs.FS{Root: filepath.Join(root, "proc")}
	pids, err := fs.PIDs()
	if err != nil {
		return nil
	}
	names := map[int]string{}
	if f, err := os.Open(filepath.Join(root, "etc", "passwd")); err == nil {
		if pw, err := users.ParsePasswd(f); err == nil {
			for _, e := range pw {
				names[int(e.UID)] = e.Name
			}
		}
		_ = f.Close()
	}
	slices.Sort(pids)
	out := []proto.Process{}
	for _, pid := range pids {
		st, err := fs.Stat(pid)
		if err != nil {
			continue
		}
		status, err := fs.Status(pid)
		if err != nil {
			continue
		}
		argv, _ := fs.Cmdline(pid)
		cmd := strings.Join(argv, " ")
		if cmd == "" {
			cmd = "[" + st.Comm + "]"
		}
		user := names[status.UID]
		if user == "" {
			user = strconv.Itoa(status.UID)
		}
		out = append(out, proto.Process{
			PID: pid, PPID: st.PPID, UID: status.UID, User: user, State: st.State,
			RSSBytes: status.RSSBytes, CPUTicks: st.CPUTicks(), Threads: st.Threads, Command: cmd,
		})
	}
	return out
}
