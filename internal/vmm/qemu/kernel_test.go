package qemu

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/testutil/guest"
	"github.com/bangerdev/banger/internal/vmm"
)

// note encodes one ELF note.
func note(name string, typ uint32, desc []byte) []byte {
	n := append([]byte(name), 0)
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(n)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = append(b, n...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, desc...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestHasNote(t *testing.T) {
	pvh := note("Xen", 18, []byte{0, 0, 0, 1})
	gnu := note("GNU", 3, make([]byte, 20))
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"pvh alone", pvh, true},
		{"after a build id", append(append([]byte{}, gnu...), pvh...), true},
		{"other xen note", note("Xen", 17, []byte{1, 2}), false},
		{"wrong name", note("Xe", 18, nil), false},
		{"truncated", pvh[:len(pvh)-2], false},
		{"huge sizes", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 18, 0, 0, 0}, false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		if got := hasNote(tt.b, binary.LittleEndian, "Xen", xenElfnotePhys32Entry); got != tt.want {
			t.Errorf("%s: hasNote = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func FuzzHasNote(f *testing.F) {
	f.Add(note("Xen", 18, []byte{0, 0, 0, 1}))
	f.Add(append(note("GNU", 3, make([]byte, 20)), note("Xen", 18, nil)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 18, 0, 0, 0})
	f.Fuzz(func(_ *testing.T, b []byte) {
		hasNote(b, binary.LittleEndian, "Xen", xenElfnotePhys32Entry) // must not panic
	})
}

func TestKernelImage(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "vmlinux-not-elf")
	if err := os.WriteFile(notELF, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		k    vmm.Kernel
		want string
	}{
		{vmm.Kernel{BzImage: "/k/bz", Vmlinux: notELF}, "/k/bz"},
		{vmm.Kernel{BzImage: "/k/bz"}, "/k/bz"},
		{vmm.Kernel{Vmlinux: notELF}, notELF},
	}
	for _, tt := range tests {
		if got := kernelImage(tt.k); got != tt.want {
			t.Errorf("kernelImage(%+v) = %q; want %q", tt.k, got, tt.want)
		}
	}
}

// The Debian cloud kernel's vmlinux boots through PVH, so QEMU gets it.
func TestKernelImageDebianPVH(t *testing.T) {
	if testing.Short() {
		t.Skip("extracts the kernel package")
	}
	k := guest.DebianKernel(t)
	if got := kernelImage(vmm.Kernel{BzImage: k.BzImage, Vmlinux: k.Vmlinux}); got != k.Vmlinux {
		t.Fatalf("kernelImage = %s; want the PVH vmlinux %s", got, k.Vmlinux)
	}
}
