package dmsnap

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

func loopLabelled(t *testing.T, label string) (Loop, bool) {
	t.Helper()
	loops, err := hostSystem{}.Loops()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range loops {
		if l.Label == label {
			return l, true
		}
	}
	return Loop{}, false
}

// waitGone polls (bounded) for a loop's autoclear, which runs on the last
// close, asynchronously in newer kernels.
func waitGone(t *testing.T, label string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if _, ok := loopLabelled(t, label); !ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("loop %s still attached", label)
}

// Real loop devices: the label reaches lo_file_name, the read-only flag
// holds, autoclear detaches on the last close, and Remove finds a held,
// labelled loop by the VM id alone.
func TestHostLoops(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		testutil.Skip(t, "no /dev/loop-control")
	}
	img := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	id := "dmsnaptest" + time.Now().Format("150405")
	label := NamePrefix + id + "-origin"
	dev, h, err := hostSystem{}.AttachLoop(img, label, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(); _ = hostSystem{}.DetachLoop(dev) })
	l, ok := loopLabelled(t, label)
	if !ok || l.Dev != dev {
		t.Fatalf("attached %s with label %s; Loops found %+v, %v", dev, label, l, ok)
	}
	ro, err := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/ro")
	if err != nil || string(ro) != "1\n" {
		t.Fatalf("%s read-only = %q, %v", dev, ro, err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, label) // autoclear: nobody held it

	// A loop something else still holds (as a crashed daemon's VMM would):
	// Remove finds it by the VM id and detaches it once released.
	dev, h, err = hostSystem{}.AttachLoop(img, NamePrefix+id+"-cow", false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close() }()
	m := New()
	if err := m.Remove(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	_ = h.Close()
	waitGone(t, NamePrefix+id+"-cow")
	if err := m.Remove(context.Background(), id); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	_ = dev
}

// The whole disk on real device-mapper, where the host has it.
func TestHostDMSnapshot(t *testing.T) {
	testutil.RequireRoot(t)
	if err := Available(); err != nil {
		t.Skipf("%v (these build machines have no device-mapper; the dm tier runs on hosts that do)", err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	orig := make([]byte, 4<<20)
	for i := range orig {
		orig[i] = byte(i)
	}
	if err := os.WriteFile(img, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	id := "dmsnapdm" + time.Now().Format("150405")
	p, err := NewPlan(Spec{VMID: id, Image: img, ImageSize: int64(len(orig)), COW: filepath.Join(dir, "cow")})
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	disk, err := m.Create(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Remove(context.Background(), id) })
	f, err := os.OpenFile(disk.Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("written through the snapshot"), 4096); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if got, _ := os.ReadFile(img); string(got[4096:4096+7]) == "written" {
		t.Fatal("the write reached the shared image")
	}
	if err := m.Remove(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(disk.Path); !os.IsNotExist(err) {
		t.Fatalf("%s still exists", disk.Path)
	}
	waitGone(t, p.Names.OriginLabel)
	waitGone(t, p.Names.COWLabel)
}
