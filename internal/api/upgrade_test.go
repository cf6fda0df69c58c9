package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/bangerdev/banger/internal/errdefs"
)

func TestUpgradeCarriesRawBytes(t *testing.T) {
	rt := NewRouter(nil)
	rt.Mux.HandleFunc("POST /v1/vms/{id}/ssh", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "dev" {
			WriteError(w, fmt.Errorf("vm %q: %w", r.PathValue("id"), errdefs.ErrNotFound))
			return
		}
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

	conn, err := c.Upgrade(ctx, "/v1/vms/dev/ssh", ProtocolSSH)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil || string(got) != "hello" {
		t.Fatalf("echo through the upgraded connection: %q, %v", got, err)
	}

	_, err = c.Upgrade(ctx, "/v1/vms/nope/ssh", ProtocolSSH)
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("upgrade of a missing vm: want ErrNotFound, got %v", err)
	}
	_, err = c.Upgrade(ctx, "/v1/vms/dev/ssh", "websocket")
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("wrong protocol: want ErrInvalid, got %v", err)
	}
}
