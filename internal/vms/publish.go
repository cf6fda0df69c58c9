package vms

import (
	"strconv"
	"strings"

	"github.com/bangerdev/banger/internal/hostnet"
)

// Published is what a VM publishes on the host now: while it is attached,
// the recorded ports (with the host ports picked for -p GUESTPORT and
// -P); otherwise the mappings that name their host port. docker shows a
// stopped container's random ports nowhere either.
func Published(vm VM) []hostnet.Port {
	if len(vm.Runtime.Ports) > 0 {
		return vm.Runtime.Ports
	}
	var out []hostnet.Port
	for _, p := range vm.Spec.Ports {
		if p.HostPort != 0 {
			out = append(out, p)
		}
	}
	return out
}

// publishAll is -P: ports plus a mapping without a host port for each
// exposed port ("80/tcp", "53/udp", "8080") that ports does not publish
// yet. An exposed port that is not a port number is skipped: an image's
// config is not banger's to refuse at run.
func publishAll(ports []hostnet.Port, exposed []string) []hostnet.Port {
	out := append([]hostnet.Port(nil), ports...)
	for _, e := range exposed {
		num, proto, _ := strings.Cut(e, "/")
		proto = strings.ToLower(proto)
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp") {
			continue
		}
		dup := false
		for _, p := range out {
			if p.GuestPort == n && (p.Protocol == proto || p.Protocol == "" && proto == "tcp") {
				dup = true
			}
		}
		if !dup {
			out = append(out, hostnet.Port{GuestPort: n, Protocol: proto})
		}
	}
	return out
}
