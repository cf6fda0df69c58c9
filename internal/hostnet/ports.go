package hostnet

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Port publishes a guest port on the host (a VM's `-p`).
type Port struct {
	// HostIP is the host address to publish on; "" means every address.
	HostIP    string `json:"host_ip,omitempty"`
	HostPort  int    `json:"host_port"`
	GuestPort int    `json:"guest_port"`
	// Protocol is "tcp" or "udp".
	Protocol string `json:"protocol"`
}

// ParsePort parses a `-p` value, [[HOSTIP:]HOSTPORT:]GUESTPORT[/tcp|/udp],
// into a mapping. The protocol defaults to tcp; a host IP of 0.0.0.0 (or
// none) publishes on every host address. Guests are IPv4-only, so the host
// IP is too. No host port (`80`, `127.0.0.1::80`) is HostPort 0: the daemon
// picks a free one when the VM starts (Attach).
func ParsePort(s string) (Port, error) {
	bad := func(why string) (Port, error) {
		return Port{}, fmt.Errorf("port mapping %q: %w: %s (want [[HOSTIP:]HOSTPORT:]GUESTPORT[/tcp|/udp], e.g. 8080:80, 80 or 127.0.0.1:5353:53/udp)", s, errdefs.ErrInvalid, why)
	}
	spec, proto, hasProto := strings.Cut(s, "/")
	m := Port{Protocol: "tcp"}
	if hasProto {
		switch strings.ToLower(proto) {
		case "tcp", "udp":
			m.Protocol = strings.ToLower(proto)
		default:
			return bad("protocol must be tcp or udp")
		}
	}
	if strings.HasPrefix(spec, "[") {
		return bad("IPv6 host addresses are not supported (guests are IPv4-only)")
	}
	if spec == "" {
		return bad("need a guest port")
	}
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 1:
		parts = []string{"", parts[0]}
	case 2:
	case 3:
		ip, err := netip.ParseAddr(parts[0])
		if err != nil || !ip.Is4() {
			return bad("host address " + strconv.Quote(parts[0]) + " is not an IPv4 address")
		}
		if !ip.IsUnspecified() {
			m.HostIP = ip.String()
		}
		parts = parts[1:]
	default:
		return bad("need a host port and a guest port")
	}
	var err error
	if parts[0] != "" && parts[0] != "0" { // 0 is docker's "pick one" too
		if m.HostPort, err = parsePortNumber(parts[0]); err != nil {
			return bad("host port: " + err.Error())
		}
	} else if parts[0] == "" && strings.Count(spec, ":") == 1 {
		return bad("empty host port (leave out the colon, or give a host address: IP::GUESTPORT)")
	}
	if m.GuestPort, err = parsePortNumber(parts[1]); err != nil {
		return bad("guest port: " + err.Error())
	}
	return m, nil
}

func parsePortNumber(s string) (int, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number 1..65535", s)
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%d is out of range 1..65535", n)
	}
	return n, nil
}

// FormatPort renders a mapping in the form ParsePort reads; a host port
// yet to be picked (0) is left out.
func FormatPort(m Port) string {
	host := ""
	if m.HostPort != 0 {
		host = strconv.Itoa(m.HostPort)
	}
	s := fmt.Sprintf("%s:%d/%s", host, m.GuestPort, m.Protocol)
	switch {
	case m.HostIP != "":
		s = m.HostIP + ":" + s
	case m.HostPort == 0:
		s = s[1:]
	}
	return s
}

// normalizePorts validates mappings that came over the API (not through
// ParsePort) and refuses two that claim the same host port.
func normalizePorts(ports []Port) ([]Port, error) {
	out := make([]Port, 0, len(ports))
	for _, p := range ports {
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		n, err := ParsePort(FormatPort(p))
		if err != nil {
			return nil, err
		}
		for _, q := range out {
			if portsClash(n, q) {
				return nil, fmt.Errorf("port mappings %s and %s: %w: both claim host port %d/%s", FormatPort(q), FormatPort(n), errdefs.ErrInvalid, n.HostPort, n.Protocol)
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// portsClash reports whether two mappings would catch the same packets; a
// host port yet to be picked clashes with nothing.
func portsClash(a, b Port) bool {
	return a.HostPort != 0 && a.Protocol == b.Protocol && a.HostPort == b.HostPort &&
		(a.HostIP == b.HostIP || a.HostIP == "" || b.HostIP == "")
}
