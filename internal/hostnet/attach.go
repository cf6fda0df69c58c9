package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/bangerdev/banger/internal/hostnet/nftplan"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Resources are the host objects a VM holds, or is about to hold, on the
// network side; the daemon writes them to handles.json.
type Resources struct {
	Tap string `json:"tap,omitempty"`
	IP  string `json:"ip,omitempty"`
	MAC string `json:"mac,omitempty"`
	// Table and Marker locate the VM's nft rules: every rule in table
	// inet Table whose comment is Marker.
	Table  string `json:"nft_table,omitempty"`
	Marker string `json:"nft_marker,omitempty"`
	Ports  []Port `json:"ports,omitempty"`
}

// Attachment is a VM plugged into the network.
type Attachment struct {
	Lease     Lease
	Resources Resources
}

// Attach plugs a VM in before its VMM starts: it leases an address (see
// Lease), reserves the host ports (picking a free one for each mapping
// without: HostPort 0, anew on each start), creates the tap (bg-<id>, on the bridge,
// isolated as configured, MTU from the config), the rules that let the tap
// send only from the VM's MAC and IP (antispoofRules) and the DNAT rules of
// the published ports, each marked "banger:<vm id>". record is called before
// each of those is created, with everything the VM will then hold; when
// record fails nothing more is created. On any failure Attach undoes what
// it made (the lease stays) and returns the error.
func (n *Network) Attach(ctx context.Context, vmID string, ports []Port, record func(Resources) error) (Attachment, error) {
	ports, err := normalizePorts(ports)
	if err != nil {
		return Attachment{}, err
	}
	lease, err := n.Lease(ctx, vmID)
	if err != nil {
		return Attachment{}, err
	}
	if ports, err = n.setPorts(vmID, ports); err != nil {
		return Attachment{}, err
	}
	att, err := n.attach(ctx, lease, ports, record)
	if err != nil {
		if uerr := n.Detach(context.WithoutCancel(ctx), vmID); uerr != nil {
			err = errors.Join(err, fmt.Errorf("undo: %w", uerr))
		}
		return Attachment{}, fmt.Errorf("attach vm %s to the network: %w", vmID, err)
	}
	return att, nil
}

func (n *Network) attach(ctx context.Context, lease Lease, ports []Port, record func(Resources) error) (Attachment, error) {
	for _, p := range ports {
		if err := probePort(p); err != nil {
			return Attachment{}, err
		}
	}
	res := Resources{Tap: lease.Tap, IP: lease.IP.String(), MAC: lease.MAC}
	if err := record(res); err != nil {
		return Attachment{}, fmt.Errorf("record tap: %w", err)
	}
	st, err := n.links.state(ctx, n.cfg.Bridge)
	if err != nil {
		return Attachment{}, err
	}
	if st.Bridge == nil {
		return Attachment{}, fmt.Errorf("bridge %s: %w: the network is not set up (Setup first)", n.cfg.Bridge, errdefs.ErrUnavailable)
	}
	if err := n.links.apply(ctx, attachOps(n.cfg, lease.VMID, st)); err != nil {
		return Attachment{}, err
	}
	cpTapCreated.Hit()
	// Rules a crashed daemon left for this VM would publish twice.
	if err := n.nft.deleteMarked(ctx, n.cfg.Table, Marker(lease.VMID)); err != nil {
		return Attachment{}, err
	}
	mac, err := net.ParseMAC(lease.MAC)
	if err != nil {
		return Attachment{}, fmt.Errorf("lease of vm %s: mac %q: %w", lease.VMID, lease.MAC, err)
	}
	res.Table, res.Marker, res.Ports = n.cfg.Table, Marker(lease.VMID), ports
	if err := record(res); err != nil {
		return Attachment{}, fmt.Errorf("record nft rules: %w", err)
	}
	spoof := bridgePlan(n.cfg.Table)
	spoof.Rules = antispoofRules(lease.VMID, lease.Tap, mac, lease.IP)
	if err := n.nft.add(ctx, spoof); err != nil {
		return Attachment{}, err
	}
	if len(ports) > 0 {
		if err := n.nft.add(ctx, nftplan.Plan{Table: n.cfg.Table, Rules: portRules(lease.VMID, lease.IP, ports)}); err != nil {
			return Attachment{}, err
		}
	}
	lease.Ports = ports
	return Attachment{Lease: lease, Resources: res}, nil
}

// probePort refuses a host port a host program listens on (DNAT would
// silently shadow it) or a host address the host does not have.
func probePort(p Port) error {
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(p.HostPort))
	var err error
	if p.Protocol == "udp" {
		var c *net.UDPConn
		if c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr))); err == nil {
			return c.Close()
		}
	} else {
		var l *net.TCPListener
		if l, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr))); err == nil {
			return l.Close()
		}
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("publish %s: %w: a program on the host already uses %s/%s; pick another host port", FormatPort(p), errdefs.ErrConflict, addr, p.Protocol)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("publish %s: %w: %s is not an address of this host", FormatPort(p), errdefs.ErrInvalid, p.HostIP)
	}
	return fmt.Errorf("publish %s: probe %s/%s: %w", FormatPort(p), addr, p.Protocol, err)
}

// Detach removes the VM's tap and every nft rule marked with its id, and
// frees its host ports; the lease stays for the next start. It needs
// nothing but the VM id, so reconcile can call it when handles.json is
// lost, and it is idempotent.
func (n *Network) Detach(ctx context.Context, vmID string) error {
	if err := checkVMID(vmID); err != nil {
		return err
	}
	err := errors.Join(
		n.nft.deleteMarked(ctx, n.cfg.Table, Marker(vmID)),
		n.links.apply(ctx, []linkOp{opDelLink{Name: TapName(vmID)}}),
		setNone(n.setPorts(vmID, nil)),
	)
	if err != nil {
		return fmt.Errorf("detach vm %s from the network: %w", vmID, err)
	}
	return nil
}

func setNone(_ []Port, err error) error { return err }
