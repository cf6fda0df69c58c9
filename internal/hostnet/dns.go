package hostnet

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// dnsChoice is how guests resolve names.
type dnsChoice struct {
	// Forward means guests ask the gateway, where banger relays to
	// Upstreams; otherwise guests ask Servers directly (through NAT).
	Forward   bool
	Servers   []netip.Addr
	Upstreams []netip.AddrPort
}

// maxGuestResolvers is glibc's MAXNS: more nameserver lines are ignored.
const maxGuestResolvers = 3

// chooseDNS decides from the host's resolv.conf. Resolvers a guest can
// reach through NAT (IPv4, not loopback, not one of the host's own
// addresses, which the guest may not reach) are handed to the guest. If
// there is none — a 127.x stub such as systemd-resolved, or a resolver
// only on IPv6, which guests lack — banger forwards from the gateway to
// all of the host's resolvers. No nameserver line means glibc's default,
// 127.0.0.1.
func chooseDNS(resolvConf []byte, local []netip.Addr) dnsChoice {
	servers := parseNameservers(resolvConf)
	var direct []netip.Addr
	for _, s := range servers {
		if s.Is4() && !s.IsLoopback() && !s.IsUnspecified() && !slices.Contains(local, s) && !slices.Contains(direct, s) {
			direct = append(direct, s)
		}
	}
	if len(direct) > 0 {
		return dnsChoice{Servers: direct[:min(len(direct), maxGuestResolvers)]}
	}
	if len(servers) == 0 {
		servers = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	}
	c := dnsChoice{Forward: true}
	for _, s := range servers {
		c.Upstreams = append(c.Upstreams, netip.AddrPortFrom(s, 53))
	}
	return c
}

// parseNameservers reads the nameserver lines of a resolv.conf.
func parseNameservers(data []byte) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(f[1]); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// readDNS reads the configured resolv.conf; an unreadable file counts as
// empty (glibc's default applies).
func (n *Network) readDNS(local []netip.Addr) dnsChoice {
	data, err := os.ReadFile(n.resolvConf)
	if err != nil {
		n.log.Warn("cannot read resolvers; guests get the forwarder", "path", n.resolvConf, "err", err)
	}
	return chooseDNS(data, local)
}

// guestDNS is what a lease tells the guest to use.
func (n *Network) guestDNS() []netip.Addr {
	n.mu.Lock()
	d := n.dns
	n.mu.Unlock()
	if d == nil {
		c := n.readDNS(nil)
		d = &c
	}
	if d.Forward {
		return []netip.Addr{n.cfg.Gateway}
	}
	return d.Servers
}
