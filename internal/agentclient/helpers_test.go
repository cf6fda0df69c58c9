package agentclient_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
)

type agenttestConfig struct{ agentclient.Config }

var errHostKeyMismatch = agentclient.ErrHostKeyMismatch

func newKey(t *testing.T) (agentclient.Key, error) {
	k, err := agentclient.NewClientKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, nil
}

func dialWith(_ *testing.T, conn net.Conn, cfg agentclient.Config) (*agentclient.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return agentclient.Dial(ctx, conn, cfg)
}
