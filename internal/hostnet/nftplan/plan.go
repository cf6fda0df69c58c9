// Package nftplan describes an nftables ruleset as plain values: a table of
// family inet (or bridge, for rules on the frames a bridge port receives),
// its chains, and rules made of a few typed matches and one verdict.
//
// A value renders two ways: Rule.Exprs (Linux only) gives the netlink
// expressions the kernel executes (what google/nftables sends), and String
// gives the text `nft list table` prints for them. Unit tests assert plans
// as text without root; a root test applies a plan and compares `nft list
// table` with Plan.String, which proves the expressions mean what the text
// says. Only the handful of matches banger needs exist, each mirroring the
// expressions nft itself generates (including the implicit `meta nfproto`
// and `meta l4proto` dependencies that keep IPv4 matches off IPv6 packets).
package nftplan

import (
	"fmt"
	"strings"

	"github.com/google/nftables/userdata"
)

// Plan is one table with its chains and rules.
type Plan struct {
	// Family is FamilyINet (also when empty) or FamilyBridge.
	Family string
	Table  string
	Chains []Chain
	Rules  []Rule
}

// The table families banger uses.
const (
	FamilyINet   = "inet"
	FamilyBridge = "bridge"
)

// FamilyName is the plan's family, FamilyINet when unset.
func (p Plan) FamilyName() string {
	if p.Family == "" {
		return FamilyINet
	}
	return p.Family
}

// Hook is where a base chain attaches; empty for a regular chain.
type Hook string

// The hooks of family inet.
const (
	Prerouting  Hook = "prerouting"
	Input       Hook = "input"
	Forward     Hook = "forward"
	Output      Hook = "output"
	Postrouting Hook = "postrouting"
)

// Chain is a base chain (Type and Hook set, policy accept) or a regular
// chain (both empty) reached by jumps.
type Chain struct {
	Name     string
	Type     string // "filter" or "nat"
	Hook     Hook
	Priority int32
}

// Base reports whether the chain hooks into the packet path.
func (c Chain) Base() bool { return c.Hook != "" }

// Rule is a list of matches (all must hold) and a verdict, in one chain.
type Rule struct {
	Chain   string
	Match   []Match
	Verdict Verdict
	// Comment is stored as the rule's user data, as nft does for `comment`.
	Comment string
}

// UserData returns the rule's user data (its comment), or nil.
func (r Rule) UserData() []byte {
	if r.Comment == "" {
		return nil
	}
	return userdata.AppendString(nil, userdata.TypeComment, r.Comment)
}

// CommentOf extracts the comment from a rule's user data.
func CommentOf(ud []byte) string {
	s, _ := userdata.GetString(ud, userdata.TypeComment)
	return s
}

// String renders the rule as `nft list` prints it.
func (r Rule) String() string {
	parts := make([]string, 0, len(r.Match)+2)
	for _, m := range r.Match {
		parts = append(parts, m.String())
	}
	parts = append(parts, r.Verdict.String())
	if r.Comment != "" {
		parts = append(parts, fmt.Sprintf("comment %q", r.Comment))
	}
	return strings.Join(parts, " ")
}

// String renders the plan exactly as `nft list table FAMILY NAME` prints
// it (rules in chain order; chains in plan order).
func (p Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {\n", p.FamilyName(), p.Table)
	for i, c := range p.Chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		if c.Base() {
			fmt.Fprintf(&b, "\t\ttype %s hook %s priority %s; policy accept;\n", c.Type, c.Hook, priorityName(p.FamilyName(), c.Hook, c.Priority))
		}
		for _, r := range p.Rules {
			if r.Chain == c.Name {
				fmt.Fprintf(&b, "\t\t%s\n", r)
			}
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// Chain returns the named chain and whether the plan has it.
func (p Plan) Chain(name string) (Chain, bool) {
	for _, c := range p.Chains {
		if c.Name == name {
			return c, true
		}
	}
	return Chain{}, false
}

// priorityName prints a priority the way nft does: the standard names
// where nft knows them for that family and hook, else the number.
func priorityName(family string, h Hook, p int32) string {
	if family == FamilyBridge {
		switch p {
		case -300:
			return "dstnat"
		case -200:
			return "filter"
		case 100:
			return "out"
		case 300:
			return "srcnat"
		}
		return fmt.Sprint(p)
	}
	switch {
	case p == 0:
		return "filter"
	case p == -300:
		return "raw"
	case p == -150:
		return "mangle"
	case p == 50:
		return "security"
	case p == -100 && h == Prerouting:
		return "dstnat"
	case p == 100 && h == Postrouting:
		return "srcnat"
	}
	return fmt.Sprint(p)
}
