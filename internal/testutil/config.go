package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/bangerdev/banger/internal/config"
)

// Config is the default config with a network of its own — bridge
// bridgePrefix+tag, nft table tablePrefix+tag and a /24 in 10.<octet>.x.0,
// tag random — so parallel test daemons and a real banger on the same
// host never collide; agent is the banger-agent binary to inject. octet
// must stay outside 10.218.0.0/15, where subnet "auto" picks (the second
// daemon of the side-by-side test, in a package that runs alongside).
func Config(agent, bridgePrefix, tablePrefix string, octet int) config.Config {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	tag := hex.EncodeToString(b)
	cfg := config.Default()
	cfg.Daemon.SocketGroup = ""
	cfg.Network.Bridge = bridgePrefix + tag
	cfg.Network.Subnet = fmt.Sprintf("10.%d.%d.0/24", octet, b[0])
	cfg.Network.NftTable = tablePrefix + tag
	cfg.Image.AgentBinary = agent
	cfg.VM.StopTimeout = 5
	return cfg
}
