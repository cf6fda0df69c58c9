package hostnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// PortRange is the host ports a random published port (`-p 80`, `-P`) is
// picked from, both ends included.
type PortRange struct{ First, Last int }

// defaultPortRange is docker's fallback when the kernel's range cannot be
// read (its portallocator's defaults).
var defaultPortRange = PortRange{First: 49153, Last: 60999}

// localPortRange is the kernel's ephemeral range,
// /proc/sys/net/ipv4/ip_local_port_range, the range docker picks from:
// a port there is one no service is configured to listen on.
func localPortRange(path string) PortRange {
	b, err := os.ReadFile(path)
	if err != nil {
		return defaultPortRange
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return defaultPortRange
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return defaultPortRange
	}
	return PortRange{First: lo, Last: hi}
}

// portEdge is what picking a host port asks of the host: its range and
// whether a program holds a port.
type portEdge struct {
	rng  func() PortRange
	free func(Port) error
}

// hostPorts is the host's: the kernel's ephemeral range, and a port is
// free when it can be bound (probePort).
func hostPorts() portEdge {
	return portEdge{
		rng:  func() PortRange { return localPortRange("/proc/sys/net/ipv4/ip_local_port_range") },
		free: probePort,
	}
}

// errPortsExhausted says no host port of the range was free.
var errPortsExhausted = errors.New("no free host port")

// pickPorts returns ports with every host port 0 replaced by a free one of
// r: one that no mapping of taken (other VMs' published ports) nor of
// ports itself claims, and that free says no host program holds. The
// search starts at start (any int; it is folded into r) and walks the
// range once, so two calls with different starts rarely collide and a
// full range is reported, not looped over.
func pickPorts(ports []Port, taken []Port, r PortRange, start int, free func(Port) error) ([]Port, error) {
	out := make([]Port, len(ports))
	copy(out, ports)
	size := r.Last - r.First + 1
	next := ((start % size) + size) % size
	for i, p := range out {
		if p.HostPort != 0 {
			continue
		}
		found := false
		for tries := 0; tries < size && !found; tries++ {
			c := p
			c.HostPort = r.First + next
			next = (next + 1) % size
			if clashesAny(c, taken) || clashesAny(c, out) || free(c) != nil {
				continue
			}
			out[i], found = c, true
		}
		if !found {
			return nil, fmt.Errorf("publish %s: %w: %w in %d-%d (every port there is published or in use on the host)", FormatPort(p), errdefs.ErrUnavailable, errPortsExhausted, r.First, r.Last)
		}
	}
	return out, nil
}

func clashesAny(p Port, ports []Port) bool {
	for _, q := range ports {
		if portsClash(p, q) {
			return true
		}
	}
	return false
}

// randomStart is where a pick starts in the range.
func randomStart() int { return rand.IntN(1 << 30) } //nolint:gosec // spreading picks, not a secret
