package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/nsrun"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func newNsEdge() nsEdge { return nsNetlink{} }

// nsNetlink runs link and tc operations inside a namespace, on a thread
// that entered it (nsrun): a tap is made in the namespace of the thread
// that opens /dev/net/tun.
type nsNetlink struct{}

// enter opens the namespace at path, checks it is the one of inode ino
// (when not 0), and runs fn inside it.
func (nsNetlink) enter(path string, ino uint64, fn func() error) (uint64, error) {
	ns, err := nsrun.Open(path)
	if err != nil {
		return 0, err
	}
	defer ns.Close()
	if ino != 0 && ns.Inode != ino {
		return 0, fmt.Errorf("network namespace %s: %w: the path now names another namespace (inode %d, recorded %d)", path, errdefs.ErrNotFound, ns.Inode, ino)
	}
	return ns.Inode, ns.Do(fn)
}

func (e nsNetlink) state(ctx context.Context, path string, ino uint64) (nsState, uint64, error) {
	var st nsState
	if err := ctx.Err(); err != nil {
		return st, 0, err
	}
	inode, err := e.enter(path, ino, func() (err error) {
		st, err = readNsState()
		return err
	})
	return st, inode, err
}

// readNsState reads the links, their ingress qdiscs and filters, and the
// IPv4 routes of the current namespace. A namespace holds a handful of
// links and nothing else changes them meanwhile, so an interrupted dump
// is an error here, not retried.
func readNsState() (nsState, error) {
	var st nsState
	links, err := netlink.LinkList()
	if err != nil {
		return st, fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		nl := nsLink{Name: a.Name, Loopback: a.Flags&net.FlagLoopback != 0, MAC: a.HardwareAddr.String(), MTU: a.MTU}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return st, fmt.Errorf("list addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			if ad.Scope == unix.RT_SCOPE_UNIVERSE {
				nl.Addrs = append(nl.Addrs, ipNetPrefix(ad.IPNet))
			}
		}
		qdiscs, err := netlink.QdiscList(l)
		if err != nil {
			return st, fmt.Errorf("list qdiscs of %s: %w", a.Name, err)
		}
		for _, q := range qdiscs {
			if q.Type() == "ingress" {
				nl.Ingress = true
			}
		}
		if nl.Ingress {
			filters, err := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
			if err != nil {
				return st, fmt.Errorf("list ingress filters of %s: %w", a.Name, err)
			}
			for _, f := range filters {
				if f.Attrs().Priority == redirectPrio {
					nl.Redirect = true
				} else {
					nl.Filters++
				}
			}
		}
		st.Links = append(st.Links, nl)
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return st, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		nr := nsRoute{Dev: names[r.LinkIndex]}
		if r.Dst != nil {
			nr.Dst = ipNetPrefix(r.Dst).Masked()
		}
		if gw, ok := netipAddr(r.Gw); ok {
			nr.Gateway = gw
		}
		st.Routes = append(st.Routes, nr)
	}
	return st, nil
}

func (e nsNetlink) apply(ctx context.Context, path string, ino uint64, ops []linkOp) error {
	if len(ops) == 0 {
		return nil
	}
	_, err := e.enter(path, ino, func() error {
		for _, op := range ops {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := runNsOp(op); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
		}
		return nil
	})
	return err
}

// named lists /var/run/netns (a symlink to /run/netns on most hosts).
func (nsNetlink) named() []string {
	var out []string
	for _, dir := range []string{"/run/netns", "/var/run/netns"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			out = append(out, filepath.Join(dir, e.Name()))
		}
		return out
	}
	return out
}

func (e nsNetlink) netBytes(path, link string) (rx, tx uint64, err error) {
	_, err = e.enter(path, 0, func() error {
		l, err := netlink.LinkByName(link)
		if err != nil {
			return err
		}
		if s := l.Attrs().Statistics; s != nil {
			rx, tx = s.RxBytes, s.TxBytes
			return nil
		}
		return fmt.Errorf("link %s: no statistics", link)
	})
	return rx, tx, err
}

func runNsOp(op linkOp) error {
	switch o := op.(type) {
	case opAddIngress:
		return withLink(o.Link, func(l netlink.Link) error { return netlink.QdiscAdd(ingressOf(l)) })
	case opDelIngress:
		return withLink(o.Link, func(l netlink.Link) error { return ignoreMissing(netlink.QdiscDel(ingressOf(l))) })
	case opAddRedirect:
		to, err := netlink.LinkByName(o.To)
		if err != nil {
			return err
		}
		return withLink(o.From, func(l netlink.Link) error { return netlink.FilterAdd(redirectFilter(l, to)) })
	case opDelRedirect:
		return withLink(o.Link, func(l netlink.Link) error {
			return ignoreMissing(netlink.FilterDel(&netlink.U32{FilterAttrs: redirectAttrs(l)}))
		})
	}
	return netlinkEdge{}.run(op)
}

func ingressOf(l netlink.Link) *netlink.Ingress {
	return &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
}

// redirectFilter is Kata's: every frame from gets out through to.
func redirectFilter(from, to netlink.Link) *netlink.U32 {
	return &netlink.U32{
		FilterAttrs: redirectAttrs(from),
		Sel:         &netlink.TcU32Sel{Keys: []netlink.TcU32Key{{Mask: 0, Val: 0}}, Flags: netlink.TC_U32_TERMINAL},
		Actions:     []netlink.Action{netlink.NewMirredAction(to.Attrs().Index)},
	}
}

// redirectAttrs place a filter where banger's redirect on l's ingress
// is: its priority is what Detach deletes by.
func redirectAttrs(l netlink.Link) netlink.FilterAttrs {
	return netlink.FilterAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS, Priority: redirectPrio, Protocol: unix.ETH_P_ALL}
}

// ignoreMissing makes deleting what is not there a success (the kernel
// says ENOENT, or EINVAL for a qdisc handle it does not have).
func ignoreMissing(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
		return nil
	}
	return err
}

func netipAddr(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}
