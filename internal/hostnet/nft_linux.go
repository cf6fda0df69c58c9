package hostnet

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/nftables"

	"github.com/bangerdev/banger/internal/hostnet/nftplan"
)

// nftConn turns plans into nf_tables netlink transactions with
// google/nftables. Every call opens its own connection, so concurrent
// Attach/Detach calls never share a batch. It only ever names banger's
// table — of that name, family inet and family bridge — no flush of the
// ruleset, no other table is read or written.
type nftConn struct{}

// families are the families banger's table exists in.
var families = []nftables.TableFamily{nftables.TableFamilyINet, nftables.TableFamilyBridge}

func familyOf(p nftplan.Plan) nftables.TableFamily {
	if p.FamilyName() == nftplan.FamilyBridge {
		return nftables.TableFamilyBridge
	}
	return nftables.TableFamilyINet
}

func familyName(f nftables.TableFamily) string {
	if f == nftables.TableFamilyBridge {
		return nftplan.FamilyBridge
	}
	return nftplan.FamilyINet
}

var hooks = map[nftplan.Hook]*nftables.ChainHook{
	nftplan.Prerouting:  nftables.ChainHookPrerouting,
	nftplan.Input:       nftables.ChainHookInput,
	nftplan.Forward:     nftables.ChainHookForward,
	nftplan.Output:      nftables.ChainHookOutput,
	nftplan.Postrouting: nftables.ChainHookPostrouting,
}

func nftTable(f nftables.TableFamily, name string) *nftables.Table {
	return &nftables.Table{Name: name, Family: f}
}

func (nftConn) ensure(ctx context.Context, p nftplan.Plan) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(nftTable(familyOf(p), p.Table))
	chains := map[string]*nftables.Chain{}
	for _, pc := range p.Chains {
		ch := &nftables.Chain{Name: pc.Name, Table: t}
		if pc.Base() {
			accept := nftables.ChainPolicyAccept
			ch.Type = nftables.ChainType(pc.Type)
			ch.Hooknum = hooks[pc.Hook]
			ch.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(pc.Priority))
			ch.Policy = &accept
		}
		chains[pc.Name] = c.AddChain(ch)
		if pc.Base() {
			c.FlushChain(ch) // our own base chain: rebuilt whole below
		}
	}
	for _, r := range p.Rules {
		if pc, _ := p.Chain(r.Chain); !pc.Base() {
			return fmt.Errorf("plan for table %s: rule %q is in regular chain %s, which ensure never rewrites", p.Table, r, r.Chain)
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: chains[r.Chain], Exprs: r.Exprs(), UserData: r.UserData()})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("install nftables table %s %s: %w", p.FamilyName(), p.Table, err)
	}
	return nil
}

func (nftConn) add(ctx context.Context, p nftplan.Plan) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := nftTable(familyOf(p), p.Table)
	for _, r := range p.Rules {
		c.AddRule(&nftables.Rule{Table: t, Chain: &nftables.Chain{Name: r.Chain, Table: t}, Exprs: r.Exprs(), UserData: r.UserData()})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add rules to table %s %s: %w", p.FamilyName(), p.Table, err)
	}
	return nil
}

// listed is one rule as the kernel reports it.
type listed struct {
	chain *nftables.Chain
	rule  *nftables.Rule
}

func tableExists(c *nftables.Conn, f nftables.TableFamily, table string) (bool, error) {
	tables, err := c.ListTablesOfFamily(f)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == table {
			return true, nil
		}
	}
	return false, nil
}

// listRules lists the rules of banger's table in every family it exists
// in; found says it exists in at least one.
func listRules(c *nftables.Conn, table string) (found bool, out []listed, err error) {
	for _, f := range families {
		ok, err := tableExists(c, f, table)
		if err != nil {
			return found, nil, err
		}
		if !ok {
			continue
		}
		found = true
		chains, err := c.ListChainsOfTableFamily(f)
		if err != nil {
			return true, nil, fmt.Errorf("list chains of table %s %s: %w", familyName(f), table, err)
		}
		for _, ch := range chains {
			if ch.Table.Name != table {
				continue
			}
			rules, err := c.GetRules(ch.Table, ch)
			if err != nil {
				return true, nil, fmt.Errorf("list rules of chain %s in table %s %s: %w", ch.Name, familyName(f), table, err)
			}
			for _, r := range rules {
				out = append(out, listed{chain: ch, rule: r})
			}
		}
	}
	return found, out, nil
}

func (nftConn) rules(ctx context.Context, table string) (bool, []RuleInfo, error) {
	if err := ctx.Err(); err != nil {
		return false, nil, err
	}
	c, err := nftables.New()
	if err != nil {
		return false, nil, fmt.Errorf("nftables: %w", err)
	}
	found, ls, err := listRules(c, table)
	out := make([]RuleInfo, 0, len(ls))
	for _, l := range ls {
		ri := RuleInfo{Family: familyName(l.chain.Table.Family), Chain: l.chain.Name, Handle: l.rule.Handle, Comment: nftplan.CommentOf(l.rule.UserData)}
		if id, ok := strings.CutPrefix(ri.Comment, MarkerPrefix); ok {
			ri.VMID = id
		}
		out = append(out, ri)
	}
	return found, out, err
}

func (nftConn) chains(ctx context.Context, table string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	var out []string
	for _, f := range families {
		if ok, err := tableExists(c, f, table); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		chains, err := c.ListChainsOfTableFamily(f)
		if err != nil {
			return nil, fmt.Errorf("list chains of table %s %s: %w", familyName(f), table, err)
		}
		for _, ch := range chains {
			if ch.Table.Name == table {
				out = append(out, ch.Name)
			}
		}
	}
	return out, nil
}

func (nftConn) deleteMarked(ctx context.Context, table, marker string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	_, ls, err := listRules(c, table)
	if err != nil {
		return err
	}
	n := 0
	for _, l := range ls {
		if nftplan.CommentOf(l.rule.UserData) == marker {
			if err := c.DelRule(&nftables.Rule{Table: l.chain.Table, Chain: l.chain, Handle: l.rule.Handle}); err != nil {
				return fmt.Errorf("delete rule %d of table %s %s: %w", l.rule.Handle, familyName(l.chain.Table.Family), table, err)
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete rules %q from table %s: %w", marker, table, err)
	}
	return nil
}

func (nftConn) deleteTable(ctx context.Context, table string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	n := 0
	for _, f := range families {
		found, err := tableExists(c, f, table)
		if err != nil {
			return err
		}
		if found {
			c.DelTable(nftTable(f, table))
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete table %s: %w", table, err)
	}
	return nil
}
