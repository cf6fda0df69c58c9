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
// table: no flush of the ruleset, no other table is read or written.
type nftConn struct{}

var hooks = map[nftplan.Hook]*nftables.ChainHook{
	nftplan.Prerouting:  nftables.ChainHookPrerouting,
	nftplan.Input:       nftables.ChainHookInput,
	nftplan.Forward:     nftables.ChainHookForward,
	nftplan.Output:      nftables.ChainHookOutput,
	nftplan.Postrouting: nftables.ChainHookPostrouting,
}

func inetTable(name string) *nftables.Table {
	return &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
}

func (nftConn) ensure(ctx context.Context, p nftplan.Plan) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(inetTable(p.Table))
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
		return fmt.Errorf("install nftables table inet %s: %w", p.Table, err)
	}
	return nil
}

func (nftConn) add(ctx context.Context, table string, rules []nftplan.Rule) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := inetTable(table)
	for _, r := range rules {
		c.AddRule(&nftables.Rule{Table: t, Chain: &nftables.Chain{Name: r.Chain, Table: t}, Exprs: r.Exprs(), UserData: r.UserData()})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add rules to table inet %s: %w", table, err)
	}
	return nil
}

// listed is one rule as the kernel reports it.
type listed struct {
	chain *nftables.Chain
	rule  *nftables.Rule
}

func tableExists(c *nftables.Conn, table string) (bool, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
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

func listRules(c *nftables.Conn, table string) (bool, []listed, error) {
	if found, err := tableExists(c, table); !found || err != nil {
		return false, nil, err
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return true, nil, fmt.Errorf("list chains of table inet %s: %w", table, err)
	}
	var out []listed
	for _, ch := range chains {
		if ch.Table.Name != table {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return true, nil, fmt.Errorf("list rules of chain %s in table inet %s: %w", ch.Name, table, err)
		}
		for _, r := range rules {
			out = append(out, listed{chain: ch, rule: r})
		}
	}
	return true, out, nil
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
		ri := RuleInfo{Chain: l.chain.Name, Handle: l.rule.Handle, Comment: nftplan.CommentOf(l.rule.UserData)}
		if id, ok := strings.CutPrefix(ri.Comment, MarkerPrefix); ok {
			ri.VMID = id
		}
		out = append(out, ri)
	}
	return found, out, err
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
				return fmt.Errorf("delete rule %d of table inet %s: %w", l.rule.Handle, table, err)
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete rules %q from table inet %s: %w", marker, table, err)
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
	if found, err := tableExists(c, table); !found || err != nil {
		return err
	}
	c.DelTable(inetTable(table))
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete table inet %s: %w", table, err)
	}
	return nil
}
