package testutil

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

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
	cfg.Network.Subnet = freeSubnet(octet, b[0])
	cfg.Network.NftTable = tablePrefix + tag
	cfg.Image.AgentBinary = agent
	cfg.VM.StopTimeout = 5
	return cfg
}

// WriteConfig writes cfg to path as the TOML file `banger daemon
// --config` reads, readable by its owner only.
func WriteConfig(path string, cfg config.Config) error {
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		return fmt.Errorf("encode config for %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// freeSubnet is 10.octet.third.0/24, or the next third octet whose /24 no
// route of the host's covers yet: a random pick alone met another test
// daemon's bridge (the suite runs a dozen daemons beside the fixture's).
func freeSubnet(octet int, third byte) string {
	routes, _ := os.ReadFile("/proc/net/route")
	for i := range 256 {
		subnet := fmt.Sprintf("10.%d.%d.0/24", octet, third+byte(i))
		if !routed(string(routes), netip.MustParsePrefix(subnet)) {
			return subnet
		}
	}
	return fmt.Sprintf("10.%d.%d.0/24", octet, third)
}

// FreeSubnet is a /24 in 10.octet.x.0 that no route of the host's
// covers, x random: for a test's own network (a CNI bridge, say) beside
// the test daemons'.
func FreeSubnet(octet int) string {
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	return freeSubnet(octet, b[0])
}

// routed reports whether a route of table (/proc/net/route's format:
// destination and mask as little-endian hex) overlaps p. The default
// route (mask 0) does not count.
func routed(table string, p netip.Prefix) bool {
	for _, line := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		var d [4]byte
		binary.LittleEndian.PutUint32(d[:], uint32(dst))
		// A netmask's ones are its prefix length, in either byte order.
		if netip.PrefixFrom(netip.AddrFrom4(d), bits.OnesCount32(uint32(mask))).Overlaps(p) {
			return true
		}
	}
	return false
}
