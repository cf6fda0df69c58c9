package vms

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// maxDNSServers is how many nameserver lines glibc and musl read (MAXNS);
// more would be silently ignored in the guest.
const maxDNSServers = 3

var (
	// dnsOption is one resolv.conf option: a word, with a number after a
	// colon for the ones that take one ("ndots:2", "edns0").
	dnsOption = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*(:[0-9]+)?$`)
	// dnsDomain is a search domain: dot-separated labels. Compiled on
	// first use: its counted repetitions compile to a program of their
	// size (~0.3 ms, 90 KB), which every CLI start would pay at init.
	dnsDomain = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$`)
	})
)

// checkDNS checks a VM's own DNS settings against what a guest's
// resolv.conf can say; errors wrap errdefs.ErrInvalid and name the flag.
func checkDNS(d DNS, network string) error {
	if d.IsZero() {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{errdefs.ErrInvalid}, args...)...))
	}
	if network == NetworkNone {
		bad("--dns, --dns-search and --dns-option need a network, and the VM has none (--network none)")
	}
	if len(d.Servers) > maxDNSServers {
		bad("--dns: %d servers, at most %d (a guest's resolver reads no more)", len(d.Servers), maxDNSServers)
	}
	for _, s := range d.Servers {
		if _, err := netip.ParseAddr(s); err != nil {
			bad("--dns %q: want an IP address such as 10.96.0.10", s)
		}
	}
	for _, s := range d.Search {
		if len(s) > 253 || !dnsDomain().MatchString(s) {
			bad("--dns-search %q: want a domain name such as svc.cluster.local", s)
		}
	}
	for _, o := range d.Options {
		if !dnsOption.MatchString(o) {
			bad("--dns-option %q: want a resolver option such as ndots:2 or edns0", o)
		}
	}
	if n := len(strings.Join(d.Search, " ")); n > 1024 {
		bad("--dns-search: %d characters of search domains, at most 1024", n)
	}
	return errors.Join(errs...)
}
