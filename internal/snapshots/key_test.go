package snapshots

import (
	"errors"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func testKey() Key {
	return Key{
		Backend: "qemu", Accel: "tcg", ImageDigest: "sha256:aaaa", AgentSHA256: "bbbb", DiskBytes: 8 << 30,
		KernelSHA256: "cccc", Cmdline: "console=ttyS0", CPUs: 2, MemoryMiB: 512,
		Drives: []Drive{{ID: "root", Root: true}, {ID: "config", ReadOnly: true}}, NICs: 1,
		Daemon: "SHA256:dddd",
	}
}

// Every part of the key decides: changing any one names another snapshot.
func TestKeyIDChangesWithEveryField(t *testing.T) {
	base := testKey()
	if base.ID() != testKey().ID() || len(base.ID()) != IDLen {
		t.Fatalf("ID %q is not stable or not %d characters", base.ID(), IDLen)
	}
	for name, change := range map[string]func(*Key){
		"backend":       func(k *Key) { k.Backend = "firecracker" },
		"accel":         func(k *Key) { k.Accel = "kvm" },
		"image digest":  func(k *Key) { k.ImageDigest = "sha256:eeee" },
		"agent":         func(k *Key) { k.AgentSHA256 = "ffff" },
		"disk size":     func(k *Key) { k.DiskBytes++ },
		"kernel":        func(k *Key) { k.KernelSHA256 = "0000" },
		"cmdline":       func(k *Key) { k.Cmdline += " quiet" },
		"cpus":          func(k *Key) { k.CPUs = 4 },
		"memory":        func(k *Key) { k.MemoryMiB = 1024 },
		"memory file":   func(k *Key) { k.MemoryFile = true },
		"nics":          func(k *Key) { k.NICs = 0 },
		"drive order":   func(k *Key) { k.Drives = []Drive{k.Drives[1], k.Drives[0]} },
		"drive count":   func(k *Key) { k.Drives = append(k.Drives, Drive{ID: "vol0"}) },
		"drive format":  func(k *Key) { k.Drives[0].Format = "qcow2" },
		"drive ro flag": func(k *Key) { k.Drives[1].ReadOnly = false },
	} {
		k := testKey()
		change(&k)
		if k.ID() == base.ID() {
			t.Errorf("changing the %s kept ID %s", name, k.ID())
		}
		if k.equal(base) {
			t.Errorf("changing the %s kept the key equal", name)
		}
	}
}

func TestKeyValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Key)
		ok     bool
	}{
		{"complete", func(*Key) {}, true},
		{"no accelerator named is fine", func(k *Key) { k.Accel = "" }, true},
		{"no backend", func(k *Key) { k.Backend = "" }, false},
		{"no image digest", func(k *Key) { k.ImageDigest = "" }, false},
		{"no agent", func(k *Key) { k.AgentSHA256 = "" }, false},
		{"no kernel", func(k *Key) { k.KernelSHA256 = "" }, false},
		{"no daemon", func(k *Key) { k.Daemon = "" }, false},
		{"no cpus", func(k *Key) { k.CPUs = 0 }, false},
		{"no memory", func(k *Key) { k.MemoryMiB = 0 }, false},
		{"no root drive", func(k *Key) { k.Drives = k.Drives[1:] }, false},
		{"two root drives", func(k *Key) { k.Drives[1].Root = true }, false},
	} {
		k := testKey()
		tc.change(&k)
		err := k.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("%s: %v does not wrap ErrInvalid", tc.name, err)
		}
	}
}
