package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Namespaces attaches VMs to network namespaces that something else made
// and configured (a CNI plugin, `ip netns`), instead of banger's bridge:
// the VM's tap lives in the namespace, joined to its interface by tc
// redirects (Kata's "tcfilter" mode), and the guest takes the interface's
// address. banger's NAT, published ports, firewall and DNS relay do not
// apply there: the namespace's owner decides its network.
type Namespaces struct {
	edge nsEdge
	// uid, gid own the taps (WithTapOwner's).
	uid, gid int
	// resolvConf is the host's; confDir holds `ip netns`'s per-namespace
	// files (/etc/netns/NAME/resolv.conf).
	resolvConf, confDir string
}

// nsEdge reads and changes links inside a namespace. ino, when not 0, is
// the namespace's expected inode: a path naming another namespace, or
// none, is errdefs.ErrNotFound.
type nsEdge interface {
	state(ctx context.Context, path string, ino uint64) (st nsState, inode uint64, err error)
	apply(ctx context.Context, path string, ino uint64, ops []linkOp) error
	// named lists the namespaces `ip netns` knows (their paths).
	named() []string
	// netBytes reads a link's byte counters in the namespace at path.
	netBytes(path, link string) (rx, tx uint64, err error)
}

// NewNamespaces returns the attacher; opts are Network's (WithTapOwner,
// WithResolvConf apply).
func NewNamespaces(opts ...Option) *Namespaces {
	n := &Network{resolvConf: "/etc/resolv.conf"}
	for _, o := range opts {
		o(n)
	}
	return &Namespaces{edge: newNsEdge(), uid: n.cfg.TapUID, gid: n.cfg.TapGID, resolvConf: n.resolvConf, confDir: "/etc/netns"}
}

// Attach makes vmID's tap in t's namespace and joins it to the
// interface. record is called with what the VM will hold before
// anything is created; when it fails nothing is. On a later failure
// Attach undoes what it made. The lease says what the guest configures
// (Lease.Netns is t.Path); its DNS are the namespace's resolvers
// (guestDNS).
func (x *Namespaces) Attach(ctx context.Context, vmID string, t NetnsTarget, record func(NetnsHandles) error) (Lease, error) {
	if err := checkVMID(vmID); err != nil {
		return Lease{}, err
	}
	st, ino, err := x.edge.state(ctx, t.Path, 0)
	if err != nil {
		return Lease{}, fmt.Errorf("attach vm %s to %s: %w", vmID, t, err)
	}
	p, err := planNetnsAttach(vmID, t, st, x.uid, x.gid)
	if err != nil {
		return Lease{}, err
	}
	p.Handles.Inode = ino
	if err := record(p.Handles); err != nil {
		return Lease{}, fmt.Errorf("record tap: %w", err)
	}
	if err := x.edge.apply(ctx, t.Path, ino, p.Ops); err != nil {
		if uerr := x.Detach(context.WithoutCancel(ctx), p.Handles); uerr != nil {
			err = errors.Join(err, fmt.Errorf("undo: %w", uerr))
		}
		return Lease{}, fmt.Errorf("attach vm %s to %s: %w", vmID, t, err)
	}
	p.Guest.DNS = x.guestDNS(t.Path)
	return p.Guest, nil
}

// Detach removes what h names from its namespace: banger's filters, the
// veth's ingress qdisc when banger added it, the tap. A namespace that is
// gone (or whose path now names another) took them with it: nil.
// Idempotent.
func (x *Namespaces) Detach(ctx context.Context, h NetnsHandles) error {
	st, _, err := x.edge.state(ctx, h.Path, h.Inode)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err == nil {
		err = x.edge.apply(ctx, h.Path, h.Inode, netnsDetachOps(h, st))
	}
	if err != nil {
		return fmt.Errorf("detach tap %s from network namespace %s: %w", h.Tap, h.Path, err)
	}
	return nil
}

// Leftovers names what of h is still in its namespace (for leak checks
// and gc): nothing once Detach succeeded or the namespace is gone.
func (x *Namespaces) Leftovers(ctx context.Context, h NetnsHandles) ([]string, error) {
	st, _, err := x.edge.state(ctx, h.Path, h.Inode)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, op := range netnsDetachOps(h, st) {
		out = append(out, h.Path+": "+op.String())
	}
	return out, nil
}

// Sweep detaches vmID from every namespace `ip netns` knows that holds
// its tap: what a VM whose record section was lost may have left.
func (x *Namespaces) Sweep(ctx context.Context, vmID string) error {
	if err := checkVMID(vmID); err != nil {
		return err
	}
	tap := TapName(vmID)
	var errs []error
	for _, p := range x.edge.named() {
		st, ino, err := x.edge.state(ctx, p, 0)
		if err != nil {
			continue // gone meanwhile, or not a namespace
		}
		if _, ok := st.link(tap); ok {
			errs = append(errs, x.Detach(ctx, NetnsHandles{Path: p, Inode: ino, Tap: tap}))
		}
	}
	return errors.Join(errs...)
}

// NsCounter counts the bytes of the tap Tap in the namespace at Path
// (vmstats.NetCounter): /sys/class/net shows only the host's links.
type NsCounter struct {
	Path, Tap string
	x         *Namespaces
}

// Counter is the byte counter of tap in the namespace at path.
func (x *Namespaces) Counter(path, tap string) NsCounter {
	return NsCounter{Path: path, Tap: tap, x: x}
}

// NetBytes reads what the tap received and sent.
func (c NsCounter) NetBytes() (rx, tx uint64, err error) { return c.x.edge.netBytes(c.Path, c.Tap) }

// NsTap is one of banger's taps in a network namespace; Inode is the
// namespace's (one namespace may have several paths).
type NsTap struct {
	Path  string `json:"path"`
	Inode uint64 `json:"inode"`
	Tap   string `json:"tap"`
}

// Taps lists banger's taps ("bg-…") in every namespace `ip netns` knows:
// the leak check's scan, which needs no record. Namespaces known only by
// a process (/proc/PID/ns/net) are found through the VMs' records.
func (x *Namespaces) Taps(ctx context.Context) []NsTap {
	var out []NsTap
	for _, p := range x.edge.named() {
		st, ino, err := x.edge.state(ctx, p, 0)
		if err != nil {
			continue
		}
		for _, l := range st.Links {
			if strings.HasPrefix(l.Name, TapPrefix) {
				out = append(out, NsTap{Path: p, Inode: ino, Tap: l.Name})
			}
		}
	}
	return out
}

// guestDNS is what a guest in the namespace at path resolves with: the
// resolvers of /etc/netns/NAME/resolv.conf for a namespace `ip netns`
// named (what `ip netns exec` shows its processes), else the host's;
// those a guest can reach (not loopback: the namespace's loopback is not
// the guest's). None leaves the image's resolv.conf alone.
func (x *Namespaces) guestDNS(path string) []netip.Addr {
	conf := x.resolvConf
	if name, ok := netnsName(path); ok {
		if p := filepath.Join(x.confDir, name, "resolv.conf"); fileExists(p) {
			conf = p
		}
	}
	data, _ := os.ReadFile(conf) //nolint:gosec // the host's own resolver files
	c := chooseDNS(data, nil)
	if c.Forward {
		return nil
	}
	return c.Servers
}

// netnsName is the name `ip netns` gave the namespace at path.
func netnsName(path string) (string, bool) {
	for _, dir := range []string{"/var/run/netns/", "/run/netns/"} {
		if name, ok := strings.CutPrefix(path, dir); ok && name != "" && !strings.Contains(name, "/") {
			return name, true
		}
	}
	return "", false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
