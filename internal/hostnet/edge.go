package hostnet

import (
	"context"

	"github.com/bangerdev/banger/internal/hostnet/nftplan"
)

// linkEdge observes and changes links, addresses and sysctls. The netlink
// implementation is the only code here that needs root; tests of the
// orchestration replace it.
type linkEdge interface {
	// state reports the bridge (nil when absent), banger's taps, the
	// forwarding sysctl, the main table's IPv4 routes and the host's
	// IPv4 addresses.
	state(ctx context.Context, bridge string) (hostState, error)
	// apply runs ops in order and stops at the first failure.
	apply(ctx context.Context, ops []linkOp) error
}

// nftEdge installs plans into banger's own table, and nothing else. The
// table has one name and exists in two families: inet (NAT, published
// ports, the guests' view of the host) and bridge (what each tap may
// send); deleteMarked, rules and deleteTable cover both.
type nftEdge interface {
	// ensure creates the table and chains of p as needed, replaces the
	// rules of p's base chains with p's rules, and leaves regular chains'
	// rules alone. One netlink transaction.
	ensure(ctx context.Context, p nftplan.Plan) error
	// add appends p's rules to their chains in p's table and family, in
	// one transaction.
	add(ctx context.Context, p nftplan.Plan) error
	// deleteMarked deletes every rule of the table whose comment is
	// marker; a missing table is not an error.
	deleteMarked(ctx context.Context, table, marker string) error
	// rules lists the table's rules; found is false without the table.
	rules(ctx context.Context, table string) (found bool, rules []RuleInfo, err error)
	// chains lists the table's chains (both families); none without it.
	chains(ctx context.Context, table string) ([]string, error)
	// deleteTable deletes the table; a missing table is not an error.
	deleteTable(ctx context.Context, table string) error
}

// RuleInfo is one rule in banger's table.
type RuleInfo struct {
	// Family is the table's family: inet or bridge.
	Family  string `json:"family,omitempty"`
	Chain   string `json:"chain"`
	Handle  uint64 `json:"handle"`
	Comment string `json:"comment,omitempty"`
	// VMID is the owner named by a "banger:<vm id>" comment; empty for
	// the base rules.
	VMID string `json:"vm_id,omitempty"`
}
