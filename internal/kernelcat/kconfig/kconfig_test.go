package kconfig

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

func TestParseStates(t *testing.T) {
	cfg, err := Parse(strings.NewReader(`#
# Automatically generated file; DO NOT EDIT.
CONFIG_EXT4_FS=y
CONFIG_VIRTIO_BLK=m
# CONFIG_IKCONFIG is not set
CONFIG_LOCALVERSION="-cloud"
CONFIG_PHYSICAL_START=0x1000000
CONFIG_BAD NAME=y
CONFIG_=y
NOT_CONFIG_X=y
  CONFIG_INDENTED=y
garbage
CONFIG_EMPTY=
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opt  string
		want State
	}{
		{"EXT4_FS", Builtin},
		{"CONFIG_EXT4_FS", Builtin},
		{"VIRTIO_BLK", Module},
		{"IKCONFIG", Missing},
		{"NEVER_MENTIONED", Missing},
		{"INDENTED", Builtin},
		{"EMPTY", Missing},
		{"LOCALVERSION", Missing},
	} {
		if got := cfg.State(tc.opt); got != tc.want {
			t.Errorf("State(%s) = %s, want %s", tc.opt, got, tc.want)
		}
	}
	if got := cfg.Value("LOCALVERSION"); got != "-cloud" {
		t.Errorf("Value(LOCALVERSION) = %q", got)
	}
	if got := cfg.Value("PHYSICAL_START"); got != "0x1000000" {
		t.Errorf("Value(PHYSICAL_START) = %q", got)
	}
	if cfg["CONFIG_IKCONFIG"] != "n" {
		t.Errorf("is-not-set line not recorded as n: %q", cfg["CONFIG_IKCONFIG"])
	}
	for _, bad := range []string{"CONFIG_BAD NAME", "CONFIG_", "NOT_CONFIG_X"} {
		if _, ok := cfg[bad]; ok {
			t.Errorf("invalid name %q was recorded", bad)
		}
	}
}

func TestParseFirecrackerReference(t *testing.T) {
	f, err := os.Open(testutil.SpecPath(t, "firecracker-guest-kernel-x86_64-6.1.config"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	cfg, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	for opt, want := range map[string]State{
		"VIRTIO_BLK": Builtin, "VIRTIO_MMIO": Builtin, "VIRTIO_NET": Builtin,
		"EXT4_FS": Builtin, "VIRTIO_VSOCKETS": Builtin, "MODULES": Missing,
	} {
		if got := cfg.State(opt); got != want {
			t.Errorf("firecracker config: %s = %s, want %s", opt, got, want)
		}
	}
}

func TestParseRejectsHugeLine(t *testing.T) {
	_, err := Parse(strings.NewReader("CONFIG_X=" + strings.Repeat("a", maxLine+1)))
	if err == nil {
		t.Fatal("a line longer than the limit parsed")
	}
}

func embed(t *testing.T, config string) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x7fELF....padding....")
	b.Write(ikcfgStart)
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(config)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	b.Write(ikcfgEnd)
	b.WriteString("....more kernel....")
	return b.Bytes()
}

func TestFromImage(t *testing.T) {
	cfg, err := FromImage(embed(t, "CONFIG_VIRTIO_BLK=y\n# CONFIG_MODULES is not set\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.State("VIRTIO_BLK") != Builtin || cfg.State("MODULES") != Missing {
		t.Fatalf("embedded config = %v", cfg)
	}
	if _, err := FromImage([]byte("\x7fELF no config here")); !errors.Is(err, ErrNoEmbedded) {
		t.Fatalf("image without IKCONFIG: %v", err)
	}
	bad := append(append([]byte("x"), ikcfgStart...), "not gzip"...)
	if _, err := FromImage(bad); err == nil || errors.Is(err, ErrNoEmbedded) {
		t.Fatalf("corrupt embedded config: %v", err)
	}
}

// FuzzParse: any input parses without panicking, and what is recorded is
// a valid option name whose State is consistent with its value.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"CONFIG_A=y\n", "# CONFIG_B is not set\n", "CONFIG_C=\"x=y\"\n", "=\n#\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		for name, v := range cfg {
			if !validName(name) {
				t.Fatalf("recorded invalid name %q", name)
			}
			st := cfg.State(name)
			if (v == "y") != (st == Builtin) || (v == "m") != (st == Module) {
				t.Fatalf("%s=%q classified %s", name, v, st)
			}
		}
	})
}

func FuzzFromImage(f *testing.F) {
	f.Add([]byte("IKCFG_ST\x1f\x8b\x08\x00IKCFG_ED"))
	f.Fuzz(func(_ *testing.T, data []byte) {
		_, _ = FromImage(data)
	})
}
