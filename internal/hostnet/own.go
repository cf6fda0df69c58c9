package hostnet

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Several daemons (`banger daemon --root DIR`, tests, the system daemon)
// run side by side on one host. Each must own its bridge and nft table
// alone: a second daemon on the same bridge would see the first one's
// taps and rules as its own leaks and gc them. So a daemon marks what it
// owns — the bridge's alias is OwnerMark(state dir), the table holds an
// empty chain named for the owner — and Setup refuses a bridge or table
// another daemon marked. OwnNetwork gives a --root daemon names of its
// own, and subnet "auto" an address range nothing on the host uses.

// AutoSubnet is network.subnet's value that has Setup choose a free /24
// from autoPool, once; the choice is kept in the daemon's store.
const AutoSubnet = "auto"

// autoPool is where AutoSubnet picks from: clear of the system daemon's
// default 10.213.0.0/20 and the ranges banger's tests and scripts use.
var autoPool = netip.MustParsePrefix("10.218.0.0/15")

// ownerMarkPrefix starts a bridge alias that names its owning daemon.
const ownerMarkPrefix = "banger:"

// OwnerMark is the bridge alias of the daemon whose state dir is
// stateDir.
func OwnerMark(stateDir string) string { return ownerMarkPrefix + stateDir }

// ownerChainPrefix names the empty chain marking a table's owner.
const ownerChainPrefix = "owner-"

// ownerTag is a short, stable tag of a state dir.
func ownerTag(stateDir string) string {
	h := sha256.Sum256([]byte(stateDir))
	return hex.EncodeToString(h[:4])
}

// ownerChain is the chain that marks the table as stateDir's.
func ownerChain(stateDir string) string { return ownerChainPrefix + ownerTag(stateDir) }

// OwnNetwork is the network of a daemon whose state dir is stateDir and
// which does not own the host's default network (banger daemon --root):
// each of bridge, nft_table and subnet the config leaves at its default
// (isSet says which keys the config file set) is replaced by one of its
// own — bridge "bgr-" and table "banger_" with ownerTag(stateDir), and
// subnet auto.
func OwnNetwork(c config.Network, stateDir string, isSet func(key string) bool) config.Network {
	def := config.Default().Network
	tag := ownerTag(stateDir)
	if c.Bridge == def.Bridge && !isSet("network.bridge") {
		c.Bridge = "bgr-" + tag
	}
	if c.NftTable == def.NftTable && !isSet("network.nft_table") {
		c.NftTable = "banger_" + tag
	}
	if c.Subnet == def.Subnet && !isSet("network.subnet") {
		c.Subnet = AutoSubnet
	}
	return c
}

// checkOwner refuses a bridge or table marked by another daemon than
// owner (a state dir), saying how to give this daemon a network of its
// own. An unmarked bridge (made by an older banger) is taken.
func checkOwner(owner string, c netConfig, bridgeAlias string, chains []string) error {
	if owner == "" {
		return nil
	}
	howTo := "give this daemon a network of its own: set [network] bridge, subnet (or \"auto\") and nft_table in its config (see `banger config default`)"
	if other, ok := strings.CutPrefix(bridgeAlias, ownerMarkPrefix); ok && other != owner {
		return fmt.Errorf("network.bridge %s: %w: it belongs to the banger daemon of %s; %s", c.Bridge, errdefs.ErrConflict, other, howTo)
	}
	mine := ownerChain(owner)
	for _, ch := range chains {
		if strings.HasPrefix(ch, ownerChainPrefix) && ch != mine {
			return fmt.Errorf("network.nft_table %s: %w: another banger daemon owns it (mark %s, this daemon's is %s); %s", c.Table, errdefs.ErrConflict, ch, mine, howTo)
		}
	}
	return nil
}

// chooseSubnet picks the first /24 of pool, starting at the one seed
// selects and wrapping around, that overlaps no route of another
// interface and holds no host address: what another bridge, a VPN or a
// LAN already uses.
func chooseSubnet(pool netip.Prefix, seed string, bridge string, routes []Route, addrs []netip.Addr) (netip.Prefix, error) {
	n := 1 << (24 - pool.Bits())
	h := sha256.Sum256([]byte(seed))
	start := int(binary.BigEndian.Uint32(h[:4]) % uint32(n)) //nolint:gosec // n is a small power of two
	base := binary.BigEndian.Uint32(pool.Addr().AsSlice())
	for i := range n {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+uint32((start+i)%n)<<8) //nolint:gosec // within the pool
		cand := netip.PrefixFrom(netip.AddrFrom4(b), 24)
		if checkOverlap(cand, bridge, routes) != nil || slices.ContainsFunc(addrs, cand.Contains) {
			continue
		}
		return cand, nil
	}
	return netip.Prefix{}, fmt.Errorf("network.subnet auto: %w: every /24 of %s is in use on this host; set [network] subnet", errdefs.ErrUnavailable, pool)
}
