// Package nsrun runs a function inside another network namespace: the
// one edge where banger calls setns(2).
//
// A network namespace belongs to an OS thread, not to a goroutine, so
// Net runs the function on a fresh goroutine locked to its thread, enters
// the namespace, and restores the thread's own namespace afterwards. A
// thread that cannot be restored is never handed back to the Go
// scheduler: its goroutine ends still locked, and the runtime then ends
// the thread. What the function opens there (a netlink socket, a tap
// queue on /dev/net/tun) keeps working in that namespace after the
// thread leaves it.
//
// Paths are those of nsfs files: a bind mount under /var/run/netns (ip
// netns, CNI) or /proc/PID/ns/net. Open refuses anything else before it
// opens it for reading, so a FIFO cannot block it and a device's open
// cannot act, even behind a symlink.
package nsrun
