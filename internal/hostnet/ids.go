package hostnet

import (
	"crypto/sha256"
	"fmt"
	"net"
	"regexp"
	"sync"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// TapPrefix starts the name of every tap banger creates; the rest is the
// VM id's first TapIDLen characters (IFNAMSIZ allows 15 in all).
const (
	TapPrefix = "bg-"
	TapIDLen  = 12
)

// MarkerPrefix starts the comment on every per-VM nft rule.
const MarkerPrefix = "banger:"

// Compiled on first use: a counted repetition compiles to a program the
// size of its count, which every CLI start would pay at init.
var vmIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`) })

// checkVMID refuses ids that cannot name a tap or an nft comment.
func checkVMID(vmID string) error {
	if !vmIDPattern().MatchString(vmID) {
		return fmt.Errorf("vm id %q: %w: want 1..64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit", vmID, errdefs.ErrInvalid)
	}
	return nil
}

// TapName is the tap of a VM: "bg-" and the first 12 characters of its id,
// so `ip link` shows whose it is. Two VM ids that share their first 12
// characters would share a tap; Lease refuses the second (random hex ids,
// as banger makes them, never do in practice).
func TapName(vmID string) string {
	if len(vmID) > TapIDLen {
		vmID = vmID[:TapIDLen]
	}
	return TapPrefix + vmID
}

// Marker is the comment carried by every nft rule that belongs to the VM.
func Marker(vmID string) string { return MarkerPrefix + vmID }

// MAC is the guest's MAC address: locally administered, unicast, and
// derived from the VM id so it is the same on every boot.
func MAC(vmID string) net.HardwareAddr { return derivedMAC("vm:" + vmID) }

// bridgeMAC pins the bridge's own address. Without it Linux gives a bridge
// the lowest MAC of its ports, so the gateway's MAC would change under
// running guests whenever a tap joins or leaves.
func bridgeMAC(bridge string) net.HardwareAddr { return derivedMAC("bridge:" + bridge) }

func derivedMAC(seed string) net.HardwareAddr {
	h := sha256.Sum256([]byte("banger " + seed))
	mac := net.HardwareAddr(h[:6])
	mac[0] = 0x02 // locally administered, unicast
	return mac
}
