package hostnet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestChooseDNS(t *testing.T) {
	local := []netip.Addr{netip.MustParseAddr("192.0.2.2")}
	tests := []struct {
		name, conf string
		want       dnsChoice
	}{
		{
			name: "upstream resolver",
			conf: "# generated\nsearch example.com\nnameserver 10.255.255.53\n",
			want: dnsChoice{Servers: []netip.Addr{netip.MustParseAddr("10.255.255.53")}},
		},
		{
			name: "systemd-resolved stub",
			conf: "nameserver 127.0.0.53\noptions edns0 trust-ad\n",
			want: dnsChoice{Forward: true, Upstreams: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.53:53")}},
		},
		{
			name: "mixed: loopback skipped, at most three, no duplicates",
			conf: "nameserver 127.0.0.1\nnameserver 1.1.1.1\nnameserver 1.1.1.1\nnameserver 8.8.8.8\nnameserver 9.9.9.9\nnameserver 8.8.4.4\n",
			want: dnsChoice{Servers: []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("9.9.9.9")}},
		},
		{
			name: "resolver on the host's own address",
			conf: "nameserver 192.0.2.2\n",
			want: dnsChoice{Forward: true, Upstreams: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.2:53")}},
		},
		{
			name: "IPv6 only",
			conf: "nameserver 2001:db8::53\n",
			want: dnsChoice{Forward: true, Upstreams: []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::53]:53")}},
		},
		{
			name: "empty file: glibc's default",
			conf: "",
			want: dnsChoice{Forward: true, Upstreams: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := chooseDNS([]byte(tt.conf), local)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("chooseDNS = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// fakeResolver answers every UDP and TCP DNS query with its own id and a
// marker byte, so a test can tell the relay passed the query through and
// the answer back.
func fakeResolver(t *testing.T) netip.AddrPort {
	t.Helper()
	addr := udpResponder(t, netip.MustParseAddrPort("127.0.0.1:0"), func(q []byte) []byte { return append(q, 'U') })
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			n, _ := c.Read(buf)
			_, _ = c.Write(append(buf[:n], 'T'))
			_ = c.Close()
		}
	}()
	return addr
}

// udpResponder answers every datagram to listen with answer(query) (nil:
// no answer) and returns the address it listens on.
func udpResponder(t *testing.T, listen netip.AddrPort, answer func(q []byte) []byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if a := answer(slices.Clone(buf[:n])); a != nil {
				_, _ = pc.WriteToUDPAddrPort(a, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestForwarderRelays(t *testing.T) {
	dead := netip.MustParseAddrPort("127.0.0.1:1") // nothing listens: the relay must move on
	up := fakeResolver(t)
	f, err := startForwarder(netip.MustParseAddrPort("127.0.0.1:0"), []netip.AddrPort{dead, up}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	listen := f.Addr()

	u, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(listen))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = u.Close() }()
	_ = u.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := u.Write([]byte("query-1")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := u.Read(buf)
	if err != nil || string(buf[:n]) != "query-1U" {
		t.Fatalf("udp answer %q, %v", buf[:n], err)
	}

	// TCP is listened for on the same address (and port) as UDP.
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(context.Background(), "tcp4", listen.String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("query-2")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "query-2T" {
		t.Fatalf("tcp answer %q, %v", got, err)
	}
	_ = c.Close()
}
