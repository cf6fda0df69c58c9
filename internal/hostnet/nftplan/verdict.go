package nftplan

import (
	"fmt"
	"net/netip"
)

// Verdict ends a rule: a decision, a jump or a NAT statement.
type Verdict interface{ String() string }

// Accept lets the packet through this chain.
type Accept struct{}

func (Accept) String() string { return "accept" }

// Drop discards the packet.
type Drop struct{}

func (Drop) String() string { return "drop" }

// Jump continues in a regular chain and returns here at its end.
type Jump struct{ Chain string }

func (v Jump) String() string { return "jump " + v.Chain }

// Masquerade rewrites the source to the output interface's address.
type Masquerade struct{}

func (Masquerade) String() string { return "masquerade" }

// DNAT rewrites the destination to an IPv4 address and port.
type DNAT struct {
	Addr netip.Addr
	Port uint16
}

func (v DNAT) String() string { return fmt.Sprintf("dnat ip to %s:%d", v.Addr, v.Port) }
