package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestUpgradeCarriesRawBytes(t *testing.T) {
	rt := NewRouter(nil)
	rt.Raw(VMSSH, func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("ref") != "dev" {
			WriteError(w, fmt.Errorf("vm %q: %w", r.PathValue("ref"), errdefs.ErrNotFound))
			return
		}
		w.Header().Set(HeaderProxyHostKey, "ssh-ed25519 AAAAkey")
		conn, err := Hijack(w, r, ProtocolSSH)
		if err != nil {
			WriteError(w, err)
			return
		}
		defer func() { _ = conn.Close() }()
		_, _ = io.Copy(conn, io.LimitReader(conn, 5)) // echo five bytes
	})
	c := serve(t, rt)
	ctx := context.Background()

	conn, err := Dial(ctx, c, VMSSH, None{}, "dev")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if got := UpgradeHeader(conn).Get(HeaderProxyHostKey); got != "ssh-ed25519 AAAAkey" {
		t.Errorf("the upgrade's answer carried %s %q, want the handler's header", HeaderProxyHostKey, got)
	}
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil || string(got) != "hello" {
		t.Fatalf("echo through the upgraded connection: %q, %v", got, err)
	}

	_, err = Dial(ctx, c, VMSSH, None{}, "nope")
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("upgrade of a missing vm: want ErrNotFound, got %v", err)
	}
	websocket := newEndpoint[None, net.Conn](http.MethodPost, VMSSH.Route().Pattern, KindUpgrade, "websocket")
	_, err = Dial(ctx, c, websocket, None{}, "dev")
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("wrong protocol: want ErrInvalid, got %v", err)
	}
}
