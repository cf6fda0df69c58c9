package dockerapi

import (
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/vms"
)

// FuzzRequestParsers: the parsers of a request's path and query never
// panic, and what they accept is consistent: a version split off is
// digits.digits and the rest a path; filters that pass check match
// without error; only "", "0" and the zero time's own spelling are the
// zero time.
func FuzzRequestParsers(f *testing.F) {
	for _, s := range []string{"/v1.41/containers/json", "/v1./x", "/vv", `{"label":{"a=b":true}}`, `{"name":["^x"]}`, "1700000000.5", "-1.-1", "0001-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, rest, ok := splitVersion(s); ok {
			major, minor, _ := strings.Cut(v, ".")
			if !digits(major) || !digits(minor) || !strings.HasPrefix(rest, "/") {
				t.Fatalf("splitVersion(%q) = %q, %q", s, v, rest)
			}
			_ = checkVersion(v)
		}
		if fl, err := parseFilters(s); err == nil && fl.check(containerFilters) == nil {
			fl.match(vms.VM{ID: "aaaaaaaaaaaa", Name: "x"}, func(vms.VM, string) bool { return false })
		}
		if tm, err := parseUnixTime("since", s); err == nil && tm.IsZero() && s != "" && s != "0" {
			// Only the RFC 3339 spelling of the zero time itself is it.
			if rt, rerr := time.Parse(time.RFC3339Nano, s); rerr != nil || !rt.IsZero() {
				t.Fatalf("parseUnixTime(%q) accepted as the zero time", s)
			}
		}
	})
}
