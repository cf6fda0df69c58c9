package hostnet

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestForUserNamesEveryObjectAfterTheID(t *testing.T) {
	n, _ := fakeNetwork(t, nil)
	id := "0123456789abcdef0123"
	u, err := n.ForUser(id, netip.MustParsePrefix("10.220.7.0/24"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if u.Bridge() != "bn-0123456789ab" || u.Table() != n.cfg.Table+"-0123456789ab" {
		t.Fatalf("bridge %q table %q: want both named after the id", u.Bridge(), u.Table())
	}
	if u.Gateway() != netip.MustParseAddr("10.220.7.1") || u.cfg.IsolateVMs {
		t.Fatalf("gateway %s isolate %v: want .1 and VMs that reach each other", u.Gateway(), u.cfg.IsolateVMs)
	}
	for _, bad := range []struct {
		id     string
		subnet string
	}{{"../x", "10.220.7.0/24"}, {"ab-cd", "10.220.7.0/24"}, {id, "10.220.7.0/30"}, {id, "10.220.7.5/24"}, {id, "fd00::/64"}} {
		if _, err := n.ForUser(bad.id, netip.MustParsePrefix(bad.subnet), nil); err == nil {
			t.Errorf("ForUser(%q, %s): want refused", bad.id, bad.subnet)
		}
	}
}

// The isolation between networks is each table's own forward rule: what
// is routed into a network's bridge from any other interface (another
// network's bridge, the default one) is dropped unless it answers a
// connection or a published port. Inside the network nothing is dropped,
// and its relay's port is open on its gateway.
func TestUserPlanIsolatesNetworks(t *testing.T) {
	n, _ := fakeNetwork(t, nil)
	a, _ := n.ForUser("aaaa00000000", netip.MustParsePrefix("10.220.1.0/24"), nil)
	b, _ := n.ForUser("bbbb00000000", netip.MustParsePrefix("10.220.2.0/24"), nil)
	for _, u := range []*Network{a, b} {
		plan := basePlan(u.cfg.params(true)).String()
		br := u.Bridge()
		for _, want := range []string{
			`table inet ` + u.Table() + ` {`,
			`iifname != "` + br + `" oifname "` + br + `" drop`,
			`iifname "` + br + `" ip daddr ` + u.Gateway().String() + ` udp dport 53 accept`,
			`iifname "` + br + `" ip daddr ` + u.Gateway().String() + ` tcp dport 53 accept`,
			`ip saddr ` + u.Subnet().String() + ` oifname != "` + br + `" masquerade`,
		} {
			if !strings.Contains(plan, want) {
				t.Errorf("plan of %s lacks %q:\n%s", br, want, plan)
			}
		}
		if strings.Contains(plan, `iifname "`+br+`" oifname "`+br+`" drop`) {
			t.Errorf("plan of %s drops traffic inside the network:\n%s", br, plan)
		}
	}
}

func TestRelayedDNS(t *testing.T) {
	direct := dnsChoice{Servers: []netip.Addr{netip.MustParseAddr("10.255.255.53"), netip.MustParseAddr("9.9.9.9")}}
	got := direct.relayed()
	want := []netip.AddrPort{netip.MustParseAddrPort("10.255.255.53:53"), netip.MustParseAddrPort("9.9.9.9:53")}
	if !got.Forward || !slices.Equal(got.Upstreams, want) || got.Servers != nil {
		t.Fatalf("relayed(direct) = %+v; want forward to %v", got, want)
	}
	stub := dnsChoice{Forward: true, Upstreams: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.53:53")}}
	if got := stub.relayed(); !got.Forward || !slices.Equal(got.Upstreams, stub.Upstreams) {
		t.Fatalf("relayed(stub) = %+v; want the stub kept", got)
	}
}

func query(t testing.TB, name string, typ dnsmessage.Type) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x4242, RecursionDesired: true})
	_ = b.StartQuestions()
	if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}); err != nil {
		t.Fatal(err)
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAnswerLocal(t *testing.T) {
	names := func(n string) []netip.Addr {
		switch n {
		case "web", "www-alias":
			return []netip.Addr{netip.MustParseAddr("10.220.1.2")}
		case "db":
			return []netip.Addr{netip.MustParseAddr("10.220.1.3"), netip.MustParseAddr("10.220.1.4")}
		}
		return nil
	}
	response := query(t, "web.", dnsmessage.TypeA)
	response[2] |= 0x80 // QR: a response, not a query
	for _, tc := range []struct {
		name  string
		msg   []byte
		names NameFunc
		want  []string // nil: forwarded
	}{
		{"A of a VM", query(t, "web.", dnsmessage.TypeA), names, []string{"10.220.1.2"}},
		{"case and alias", query(t, "WWW-Alias.", dnsmessage.TypeA), names, []string{"10.220.1.2"}},
		{"two VMs, one alias", query(t, "db.", dnsmessage.TypeA), names, []string{"10.220.1.3", "10.220.1.4"}},
		{"AAAA of a VM: empty answer", query(t, "web.", dnsmessage.TypeAAAA), names, []string{}},
		{"a name of another network: forwarded", query(t, "other.", dnsmessage.TypeA), names, nil},
		{"the outside world: forwarded", query(t, "example.com.", dnsmessage.TypeA), names, nil},
		{"default network: forwarded", query(t, "web.", dnsmessage.TypeA), nil, nil},
		{"a response: forwarded", response, names, nil},
		{"garbage: forwarded", []byte{1, 2, 3}, names, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := answerLocal(tc.msg, tc.names)
			if tc.want == nil {
				if out != nil {
					t.Fatalf("answered %x; want it forwarded", out)
				}
				return
			}
			var m dnsmessage.Message
			if err := m.Unpack(out); err != nil {
				t.Fatal(err)
			}
			if m.ID != 0x4242 || !m.Response || !m.Authoritative || m.RCode != dnsmessage.RCodeSuccess || len(m.Questions) != 1 {
				t.Fatalf("header %+v questions %v", m.Header, m.Questions)
			}
			got := []string{}
			for _, a := range m.Answers {
				r := a.Body.(*dnsmessage.AResource)
				got = append(got, netip.AddrFrom4(r.A).String())
				if a.Header.TTL != nameTTL || a.Header.Name != m.Questions[0].Name {
					t.Fatalf("answer header %+v", a.Header)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("answers %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzAnswerLocal feeds the relay's parser what a hostile guest could
// send: it never panics, and what it answers is a well-formed response to
// the same id.
func FuzzAnswerLocal(f *testing.F) {
	f.Add(query(f, "web.", dnsmessage.TypeA))
	f.Add(query(f, "web.", dnsmessage.TypeAAAA))
	f.Add([]byte{0, 1, 0, 0, 0, 2})
	names := func(string) []netip.Addr { return []netip.Addr{netip.MustParseAddr("10.220.1.2")} }
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := answerLocal(msg, names)
		if out == nil {
			return
		}
		var m dnsmessage.Message
		if err := m.Unpack(out); err != nil || !m.Response || len(msg) < 2 || m.ID != uint16(msg[0])<<8|uint16(msg[1]) {
			t.Fatalf("answer to %x: %x (%v)", msg, out, err)
		}
	})
}

// BenchmarkAnswerLocal is the relay's cost for a name of the network
// (parse, look up, build the answer), before any upstream is asked.
func BenchmarkAnswerLocal(b *testing.B) {
	q := query(b, "web.", dnsmessage.TypeA)
	names := func(string) []netip.Addr { return []netip.Addr{netip.MustParseAddr("10.220.1.2")} }
	for b.Loop() {
		if answerLocal(q, names) == nil {
			b.Fatal("no answer")
		}
	}
}
