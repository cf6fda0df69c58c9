package vmm

import (
	"slices"
	"strings"
)

// EnvVMID is set in every VMM process's environment to the VM's id, so the
// inventory can find a VMM whose pid was never recorded.
const EnvVMID = "BANGER_VM"

// MarkedEnv is env (the daemon's) for a process that serves VM id: EnvVMID
// set to id, and each of marks ("KEY=value", a helper's role), replacing
// any value of those keys the daemon itself carries (a daemon started by
// a test or a tool).
func MarkedEnv(env []string, id string, marks ...string) []string {
	marks = append([]string{EnvVMID + "=" + id}, marks...)
	out := make([]string, 0, len(env)+len(marks))
	for _, kv := range env {
		if !slices.ContainsFunc(marks, func(m string) bool { return sameKey(kv, m) }) {
			out = append(out, kv)
		}
	}
	return append(out, marks...)
}

func sameKey(a, b string) bool {
	ka, _, _ := strings.Cut(a, "=")
	kb, _, _ := strings.Cut(b, "=")
	return ka == kb
}
