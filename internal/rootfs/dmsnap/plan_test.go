package dmsnap

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestNewPlan(t *testing.T) {
	p, err := NewPlan(Spec{VMID: "3f2a9c", Image: "/var/lib/banger/images/abc/rootfs.ext4", ImageSize: 1 << 30, COW: "/var/lib/banger/vms/3f2a9c/root.cow"})
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{
		VMID: "3f2a9c",
		Names: Names{
			DM: "banger-3f2a9c-root", UUID: "BANGER-3f2a9c-root",
			OriginLabel: "banger-3f2a9c-origin", COWLabel: "banger-3f2a9c-cow",
			COW: "/var/lib/banger/vms/3f2a9c/root.cow",
		},
		Image:   "/var/lib/banger/images/abc/rootfs.ext4",
		COWSize: 1029 << 20,
		Sectors: 2097152,
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("plan\n got %+v\nwant %+v", p, want)
	}
	if got := p.Table("/dev/loop3", "/dev/loop4"); got != "0 2097152 snapshot /dev/loop3 /dev/loop4 P 8" {
		t.Fatalf("table = %q", got)
	}
	wantCreate := []string{"dmsetup", "create", "banger-3f2a9c-root", "--uuid", "BANGER-3f2a9c-root", "--table", "0 2097152 snapshot /dev/loop3 /dev/loop4 P 8"}
	if got := p.CreateArgv("/dev/loop3", "/dev/loop4"); !reflect.DeepEqual(got, wantCreate) {
		t.Fatalf("create argv = %q", got)
	}
	if got := RemoveArgv(p.Names.DM); !reflect.DeepEqual(got, []string{"dmsetup", "remove", "banger-3f2a9c-root"}) {
		t.Fatalf("remove argv = %q", got)
	}
	if p.Path() != "/dev/mapper/banger-3f2a9c-root" {
		t.Fatalf("path = %q", p.Path())
	}
}

func TestNewPlanRejects(t *testing.T) {
	ok := Spec{VMID: "vm1", Image: "/i", ImageSize: 4096, COW: "/c"}
	tests := []struct {
		name string
		mod  func(*Spec)
		want string
	}{
		{"empty id", func(s *Spec) { s.VMID = "" }, "vm id"},
		{"slash in id", func(s *Spec) { s.VMID = "a/b" }, "vm id"},
		{"long id", func(s *Spec) { s.VMID = strings.Repeat("a", 50) }, "too long"},
		{"odd size", func(s *Spec) { s.ImageSize = 1000 }, "multiple of 512"},
		{"relative", func(s *Spec) { s.COW = "c" }, "absolute"},
		{"reserved part", func(s *Spec) { s.Part = "cow" }, "part"},
		{"dash in part", func(s *Spec) { s.Part = "a-b" }, "part"},
	}
	for _, tt := range tests {
		s := ok
		tt.mod(&s)
		if _, err := NewPlan(s); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	s := ok
	s.VMID = strings.Repeat("a", 49) // the longest id a loop label holds
	if _, err := NewPlan(s); err != nil {
		t.Errorf("49-byte id: %v", err)
	}
}

func TestCOWSize(t *testing.T) {
	for origin, want := range map[int64]int64{
		512:     1 << 20,
		1 << 20: 2 << 20, // 256 chunks + 1 metadata area + header > 1 MiB
		1 << 30: 1029 << 20,
	} {
		got := COWSize(origin)
		if got != want || got < origin {
			t.Errorf("COWSize(%d) = %d, want %d", origin, got, want)
		}
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		name, id, part string
		ok             bool
	}{
		{"banger-vm1-root", "vm1", "root", true},
		{"banger-a-b-root", "a-b", "root", true},
		{"banger-a-b-origin", "a-b", "origin", true},
		{"banger-vm1", "", "", false},
		{"banger--root", "", "", false},
		{"banger-vm1-Root", "", "", false},
		{"docker-vm1-root", "", "", false},
		{"banger-vm1-", "", "", false},
	}
	for _, tt := range tests {
		id, part, ok := ParseName(tt.name)
		if id != tt.id || part != tt.part || ok != tt.ok {
			t.Errorf("ParseName(%q) = %q, %q, %v", tt.name, id, part, ok)
		}
	}
	if ownedBy("banger-a-b-root", "a") {
		t.Error("VM a must not own VM a-b's device")
	}
}

// dm names and loop labels are read from the host: any string.
func FuzzParseName(f *testing.F) {
	f.Add("banger-vm1-root")
	f.Add("banger-a-b-cow")
	f.Add("banger-")
	f.Fuzz(func(t *testing.T, name string) {
		id, part, ok := ParseName(name)
		if !ok {
			return
		}
		if NamePrefix+id+"-"+part != name || strings.Contains(part, "-") || id == "" {
			t.Fatalf("ParseName(%q) = %q, %q", name, id, part)
		}
		// The planner gives back the same name for that id and part
		// (when they are ones it accepts).
		if p, err := NewPlan(Spec{VMID: id, Part: part, Image: "/i", ImageSize: 512, COW: "/c"}); err == nil && p.Names.DM != name {
			t.Fatalf("round trip of %q gave %q", name, p.Names.DM)
		}
	})
}
