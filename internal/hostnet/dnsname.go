package hostnet

import (
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// nameTTL is how long a guest may cache a VM's address. Short: a VM's
// lease outlives its restarts, but a name moves when a VM is removed and
// another takes it.
const nameTTL = 10

// answerLocal answers a DNS query (a guest's, untrusted) for one of the
// network's names: an A query gets the addresses names gives, any other
// type for such a name gets an empty answer (as docker's embedded DNS
// does for AAAA), so the guest's resolver does not wait on the host's
// resolvers for a name only this network knows. It returns nil — forward
// the query unchanged — for anything else: no names, a malformed or
// non-query message, several questions, or a name the network does not
// know.
func answerLocal(query []byte, names NameFunc) []byte {
	if names == nil {
		return nil
	}
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response || h.OpCode != 0 {
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 || qs[0].Class != dnsmessage.ClassINET {
		return nil
	}
	q := qs[0]
	addrs := names(strings.ToLower(strings.TrimSuffix(q.Name.String(), ".")))
	if len(addrs) == 0 {
		return nil
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{
		ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true,
	})
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil
	}
	if q.Type == dnsmessage.TypeA || q.Type == dnsmessage.TypeALL {
		for _, a := range addrs {
			if !a.Is4() {
				continue
			}
			rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: nameTTL}
			if b.AResource(rh, dnsmessage.AResource{A: a.As4()}) != nil {
				return nil
			}
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}
