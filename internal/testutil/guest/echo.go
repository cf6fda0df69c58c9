package guest

import (
	"testing"

	"github.com/bangerdev/banger/internal/vmm"
)

// AgentPortScript sets $port to the device of the port named
// vmm.AgentPortName, waiting up to 10 s for it (empty when it never
// appears).
const AgentPortScript = `
port=
for i in $(seq 1 200); do
	for p in /sys/class/virtio-ports/*; do
		[ "$(cat $p/name 2>/dev/null)" = "` + vmm.AgentPortName + `" ] && port=/dev/${p##*/}
	done
	[ -n "$port" ] && break
	sleep 0.05
done
`

// EchoScript is a guest that stands in for the agent on the QEMU
// virtio-serial channel: it finds the port named vmm.AgentPortName, echoes
// every byte the host sends back to it (reopening the port after the host
// hangs up), reports its block devices on the console, and powers off when
// the ACPI power button is pressed (QMP system_powerdown).
//
// The port is opened once, read-write, and held open for the guest's life:
// a virtio console port allows a single open at a time, and a guest that
// closes and reopens its end between host connections can stall: host
// bytes that arrive while the port is closed are not delivered after the
// reopen until something else wakes QEMU's main loop (QEMU 7.2; measured
// about 1 reconnect in 10 stalled; holding the port open, 0 in 180). When
// the host hangs up, cat sees EOF and the loop starts it again on the same
// descriptor.
const EchoScript = AgentPortScript + `echo "guest: agent port ${port:-missing}"
echo "guest: cmdline $(cat /proc/cmdline)"
for b in /sys/block/vd*; do
	[ -e "$b" ] && echo "guest: block ${b##*/} sectors=$(cat $b/size) ro=$(cat $b/ro)"
done
# Open the power button's event device here, before the port: a press
# that comes before any reader has the device open is dropped.
exec 4</dev/input/event0
(
	dd bs=24 count=1 of=/dev/null 2>/dev/null <&4
	echo "guest: power button"
	poweroff -f
) &
[ -n "$port" ] || exit 1
exec 3<>$port
while :; do
	cat <&3 >&3
	sleep 0.02
done
`

// Echo builds the echo guest: the Debian cloud kernel and an initramfs
// running EchoScript. It returns the kernel and the initramfs path.
func Echo(t testing.TB) (Kernel, string) {
	t.Helper()
	k := DebianKernel(t)
	return k, Build(t, k, Initramfs{Modules: BaseModules, Script: EchoScript})
}
