package bootcfg

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func testKeys(t testing.TB) (hostPEM, authorized string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(blk)), string(ssh.MarshalAuthorizedKey(spub))
}

func validConfig(t testing.TB) Config {
	host, auth := testKeys(t)
	return Config{
		VMID:     "vm-1",
		Hostname: "dev",
		Network: &Network{
			Address: netip.MustParsePrefix("10.88.0.2/24"),
			Gateway: netip.MustParseAddr("10.88.0.1"),
			MTU:     1500,
			DNS:     []netip.Addr{netip.MustParseAddr("1.1.1.1")},
		},
		SSH:         SSH{HostKey: host, AuthorizedKeys: []string{auth}},
		Main:        &Process{Argv: []string{"uname", "-a"}, Env: []string{"PATH=/usr/bin:/bin"}, User: "root"},
		Channels:    Channels{VirtioPort: "banger.agent", VsockPort: 1024, TCPPort: 1022},
		GrowRoot:    true,
		EntropySeed: bytes.Repeat([]byte{7}, EntropySeedSize),
		Mounts: []Mount{
			{Type: MountVirtioFS, Source: "v0", Target: "/data", ReadOnly: true},
			{Type: MountExt4, Source: "0b5e1f6c-1f0e-4a57-9a4e-2b1d8a7c0e11", Target: "/var/lib/db", CopyUp: true},
		},
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	c := validConfig(t)
	path := filepath.Join(t.TempDir(), "cfg.img")
	if err := Write(path, c); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size()%SectorSize != 0 {
		t.Errorf("drive is %d bytes, not a multiple of %d", fi.Size(), SectorSize)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("drive mode %v, want 0600 (it holds a private key)", fi.Mode().Perm())
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip changed the config:\n got %+v\nwant %+v", got, c)
	}
	// A config without network keeps Network nil (no NIC, only lo).
	c.Network = nil
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err = Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Network != nil {
		t.Errorf("absent network decoded as %+v", got.Network)
	}
}

// A drive is written in the oldest format that carries it: with mounts,
// version 2, which an agent that knows nothing of mounts refuses rather
// than booting without them; without, version 1.
func TestMountsNeedVersion2(t *testing.T) {
	c := validConfig(t)
	for _, tt := range []struct {
		mounts []Mount
		want   uint32
	}{{c.Mounts, 2}, {nil, 1}} {
		c.Mounts = tt.mounts
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if v := binary.LittleEndian.Uint32(b[8:]); v != tt.want {
			t.Errorf("%d mounts: written as version %d, want %d", len(tt.mounts), v, tt.want)
		}
		if got, err := Decode(bytes.NewReader(b)); err != nil || len(got.Mounts) != len(tt.mounts) {
			t.Errorf("decode: %d mounts, %v", len(got.Mounts), err)
		}
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	good, err := Encode(validConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		img  []byte
		want string
	}{
		{"empty", nil, "header"},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), "bad magic"},
		{"future version", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], Version+1); return b }), fmt.Sprintf("format version %d", Version+1)},
		{"huge length", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], MaxPayload+1); return b }), "exceeds"},
		{"truncated", good[:HeaderSize+10], "payload"},
		{"flipped payload byte", mutate(func(b []byte) []byte { b[HeaderSize+3] ^= 1; return b }), "checksum mismatch"},
		{"zeroed disk", make([]byte, 4096), "bad magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tt.img))
			if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode = %v, want ErrFormat mentioning %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"no host key", func(c *Config) { c.SSH.HostKey = "" }, "ssh.host_key is empty"},
		{"garbage host key", func(c *Config) { c.SSH.HostKey = "nope" }, "ssh.host_key"},
		{"nobody authorized", func(c *Config) { c.SSH.AuthorizedKeys = nil }, "authorized_keys is empty"},
		{"bad authorized key", func(c *Config) { c.SSH.AuthorizedKeys = []string{"ssh-ed25519 !!!"} }, "authorized_keys[0]"},
		{"empty argv", func(c *Config) { c.Main.Argv = nil }, "main.argv is empty"},
		{"main and init", func(c *Config) { c.Init = true }, "exclusive"},
		{"bad hostname", func(c *Config) { c.Hostname = "-bad_" }, "hostname"},
		{"tiny mtu", func(c *Config) { c.Network.MTU = 10 }, "mtu"},
		{"search domain injecting a line", func(c *Config) { c.Network.Search = []string{"lan\nnameserver 6.6.6.6"} }, "search domain or option"},
		{"option with a space", func(c *Config) { c.Network.Options = []string{"ndots: 2"} }, "search domain or option"},
		{"no address", func(c *Config) { c.Network.Address = netip.Prefix{} }, "address is missing"},
		{"bad interface", func(c *Config) { c.Network.Interface = "a/b" }, "interface"},
		{"no channel", func(c *Config) { c.Channels = Channels{} }, "channels"},
		{"huge seed", func(c *Config) { c.EntropySeed = make([]byte, MaxEntropySeed+1) }, "entropy_seed"},
		{"negative grace", func(c *Config) { c.StopGraceMS = -1 }, "negative"},
		{"mount type", func(c *Config) { c.Mounts = []Mount{{Type: "9p", Source: "t", Target: "/d"}} }, `mounts[0].type "9p"`},
		{"long tag", func(c *Config) {
			c.Mounts = []Mount{{Type: MountVirtioFS, Source: strings.Repeat("t", 37), Target: "/d"}}
		}, "1..36 bytes"},
		{"not a uuid", func(c *Config) { c.Mounts = []Mount{{Type: MountExt4, Source: "/dev/vdc", Target: "/d"}} }, "not a file system UUID"},
		{"mount on /", func(c *Config) { c.Mounts = []Mount{{Type: MountVirtioFS, Source: "t", Target: "/"}} }, "other than /"},
		{"relative target", func(c *Config) { c.Mounts = []Mount{{Type: MountVirtioFS, Source: "t", Target: "d"}} }, "absolute, clean"},
		{"same target", func(c *Config) {
			c.Mounts = []Mount{{Type: MountVirtioFS, Source: "a", Target: "/d"}, {Type: MountVirtioFS, Source: "b", Target: "/d"}}
		}, "mounted twice"},
		{"copy-up of a share", func(c *Config) { c.Mounts = []Mount{{Type: MountVirtioFS, Source: "t", Target: "/d", CopyUp: true}} }, "copy_up"},
		{"tmpfs on /", func(c *Config) { c.Tmpfs = []Tmpfs{{Path: "/"}} }, `tmpfs path "/"`},
		{"unclean tmpfs path", func(c *Config) { c.Tmpfs = []Tmpfs{{Path: "/run/../x"}} }, "tmpfs path"},
		{"tmpfs options with a space", func(c *Config) { c.Tmpfs = []Tmpfs{{Path: "/x", Options: "size=1m mode=1777"}} }, "tmpfs options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.change(&c)
			err := c.Validate()
			if err == nil || !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
			if _, err := Encode(c); err == nil {
				t.Fatal("Encode accepted an invalid config")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	var c Config
	if c.StopGrace() != DefaultStopGrace || c.ExitWait() != DefaultExitWait || c.EffectiveInitPath() != DefaultInitPath {
		t.Errorf("zero config defaults: %v %v %q", c.StopGrace(), c.ExitWait(), c.EffectiveInitPath())
	}
	c = Config{StopGraceMS: 1500, ExitWaitMS: 20, InitPath: "/lib/systemd/systemd"}
	if c.StopGrace().Milliseconds() != 1500 || c.ExitWait().Milliseconds() != 20 || c.EffectiveInitPath() != "/lib/systemd/systemd" {
		t.Errorf("explicit values not used: %v %v %q", c.StopGrace(), c.ExitWait(), c.EffectiveInitPath())
	}
	if (Network{}).InterfaceName() != "eth0" || (Network{Interface: "ens3"}).InterfaceName() != "ens3" {
		t.Error("interface default")
	}
	s1, _ := NewEntropySeed()
	s2, _ := NewEntropySeed()
	if len(s1) != EntropySeedSize || bytes.Equal(s1, s2) {
		t.Error("entropy seeds must be fresh random bytes")
	}
}

// FuzzDecode: the drive is read by PID 1; no input may panic it or make it
// allocate past MaxPayload.
func FuzzDecode(f *testing.F) {
	good, err := Encode(validConfig(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:HeaderSize])
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Decode returned an invalid config: %v", err)
		}
		again, err := Encode(c)
		if err != nil {
			t.Fatalf("decoded config does not encode: %v", err)
		}
		if _, err := Decode(bytes.NewReader(again)); err != nil {
			t.Fatalf("re-encoded config does not decode: %v", err)
		}
	})
}

// A held config carries only what every VM of a snapshot shares, and its
// drive is always HeldDriveSize: a restored guest keeps the drive size it
// read at boot.
func TestHeldConfig(t *testing.T) {
	held := validConfig(t)
	held.Hostname, held.Network, held.Main, held.Mounts, held.Tmpfs, held.GrowRoot = "", nil, nil, nil, nil, false
	held.Hold = true
	b, err := Encode(held)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != HeldDriveSize {
		t.Errorf("held drive is %d bytes, want %d", len(b), HeldDriveSize)
	}
	got, err := Decode(bytes.NewReader(b))
	if err != nil || !got.Hold {
		t.Fatalf("decode held drive: hold %v, %v", got.Hold, err)
	}
	for name, mutate := range map[string]func(*Config){
		"hostname": func(c *Config) { c.Hostname = "web" },
		"main":     func(c *Config) { c.Main = &Process{Argv: []string{"true"}} },
		"init":     func(c *Config) { c.Init = true },
		"grow":     func(c *Config) { c.GrowRoot = true },
		"tmpfs":    func(c *Config) { c.Tmpfs = []Tmpfs{{Path: "/tmp"}} },
	} {
		c := held
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "hold") {
			t.Errorf("held config with %s: %v, want an invalid hold", name, err)
		}
	}
}
