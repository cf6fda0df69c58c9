package hostnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// forwarder relays DNS from guests to the host's resolvers when those
// listen on loopback (where guests cannot reach them). It parses nothing:
// a UDP query goes to the first upstream that answers within the timeout
// and the answer goes back as is; a TCP connection is spliced to the
// first upstream that accepts it. On a user network it first answers
// UDP queries for the network's own names (answerLocal).
type forwarder struct {
	udp       *net.UDPConn
	tcp       *net.TCPListener
	upstreams []netip.AddrPort
	// names answers a user network's own names (nil: forward all).
	names NameFunc
	log   *slog.Logger
	sem   chan struct{}
	wg    sync.WaitGroup
}

const (
	dnsTimeout     = 3 * time.Second
	dnsTCPIdle     = 30 * time.Second
	dnsMaxInflight = 256 // a guest flooding queries gets dropped, not a goroutine each
)

func startForwarder(listen netip.AddrPort, upstreams []netip.AddrPort, names NameFunc, log *slog.Logger) (*forwarder, error) {
	udp, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(listen))
	if err != nil {
		return nil, fmt.Errorf("dns forwarder: listen udp %s: %w", listen, err)
	}
	// The same port for TCP, also when listen asked for any port.
	tcp, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(udp.LocalAddr().(*net.UDPAddr).AddrPort()))
	if err != nil {
		_ = udp.Close()
		return nil, fmt.Errorf("dns forwarder: listen tcp %s: %w", listen, err)
	}
	f := &forwarder{udp: udp, tcp: tcp, upstreams: upstreams, names: names, log: log, sem: make(chan struct{}, dnsMaxInflight)}
	f.wg.Add(2)
	go f.serveUDP()
	go f.serveTCP()
	return f, nil
}

// Addr is where the forwarder listens.
func (f *forwarder) Addr() netip.AddrPort { return f.udp.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close stops listening and waits for relays in flight.
func (f *forwarder) Close() error {
	err := errors.Join(f.udp.Close(), f.tcp.Close())
	f.wg.Wait()
	return err
}

func (f *forwarder) serveUDP() {
	defer f.wg.Done()
	for {
		buf := make([]byte, 65535)
		n, client, err := f.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				f.log.Warn("dns forwarder: read", "err", err)
			}
			return
		}
		f.spawn(func() { // when overloaded, dropped: the guest's resolver retries
			answer := answerLocal(buf[:n], f.names)
			if answer == nil {
				answer = f.exchangeUDP(buf[:n])
			}
			if answer == nil {
				f.log.Debug("dns forwarder: no upstream answered", "client", client)
				return
			}
			if _, err := f.udp.WriteToUDPAddrPort(answer, client); err != nil {
				f.log.Debug("dns forwarder: answer", "client", client, "err", err)
			}
		})
	}
}

// spawn runs fn in a goroutine unless dnsMaxInflight relays are running
// already, and reports whether it did.
func (f *forwarder) spawn(fn func()) bool {
	select {
	case f.sem <- struct{}{}:
	default:
		return false
	}
	f.wg.Add(1)
	go func() {
		defer func() { <-f.sem; f.wg.Done() }()
		fn()
	}()
	return true
}

func (f *forwarder) exchangeUDP(query []byte) []byte {
	for _, up := range f.upstreams {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(up))
		if err != nil {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(dnsTimeout))
		buf := make([]byte, 65535)
		_, err = c.Write(query)
		var n int
		if err == nil {
			n, err = c.Read(buf)
		}
		_ = c.Close()
		if err == nil {
			return buf[:n]
		}
		f.log.Debug("dns forwarder: upstream failed", "upstream", up, "err", err)
	}
	return nil
}

func (f *forwarder) serveTCP() {
	defer f.wg.Done()
	for {
		c, err := f.tcp.AcceptTCP()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				f.log.Warn("dns forwarder: accept", "err", err)
			}
			return
		}
		if !f.spawn(func() { f.relayTCP(c) }) {
			_ = c.Close()
		}
	}
}

func (f *forwarder) relayTCP(c *net.TCPConn) {
	defer func() { _ = c.Close() }()
	var up net.Conn
	for _, a := range f.upstreams {
		d := net.Dialer{Timeout: dnsTimeout}
		var err error
		if up, err = d.DialContext(context.Background(), "tcp", a.String()); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer func() { _ = up.Close() }()
	deadline := time.Now().Add(dnsTCPIdle)
	_ = c.SetDeadline(deadline)
	_ = up.SetDeadline(deadline)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, c)
		_ = up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(c, up)
	_ = c.CloseWrite()
	<-done
}
