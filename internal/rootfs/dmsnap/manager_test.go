package dmsnap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeSystem records what the manager asks of the host, in order.
type fakeSystem struct {
	log     []string
	devices []Device
	loops   []Loop
	// busy makes the next n dmsetup removes fail as busy.
	busy int
	// failCreate makes dmsetup create fail.
	failCreate bool
	nextLoop   int
}

type hold struct {
	sys *fakeSystem
	dev string
}

func (h hold) Close() error {
	h.sys.log = append(h.sys.log, "close "+h.dev)
	return nil
}

func (f *fakeSystem) AttachLoop(backing, label string, ro bool) (string, io.Closer, error) {
	dev := fmt.Sprintf("/dev/loop%d", f.nextLoop)
	f.nextLoop++
	f.log = append(f.log, fmt.Sprintf("attach %s %s ro=%v -> %s", backing, label, ro, dev))
	f.loops = append(f.loops, Loop{Dev: dev, Label: label})
	return dev, hold{f, dev}, nil
}

func (f *fakeSystem) DetachLoop(dev string) error {
	f.log = append(f.log, "detach "+dev)
	return nil
}

func (f *fakeSystem) Loops() ([]Loop, error)     { return f.loops, nil }
func (f *fakeSystem) Devices() ([]Device, error) { return f.devices, nil }

func (f *fakeSystem) CreateSparse(path string, size int64) error {
	f.log = append(f.log, fmt.Sprintf("sparse %s %d", path, size))
	return nil
}

func (f *fakeSystem) Run(_ context.Context, argv []string) ([]byte, error) {
	f.log = append(f.log, strings.Join(argv, " "))
	switch {
	case argv[1] == "remove" && f.busy > 0:
		f.busy--
		return []byte("device-mapper: remove ioctl on " + argv[2] + " failed: Device or resource busy\nCommand failed."), errors.New("exit status 1")
	case argv[1] == "create" && f.failCreate:
		return []byte("device-mapper: reload ioctl on " + argv[2] + " failed: Invalid argument"), errors.New("exit status 1")
	}
	return nil, nil
}

func testPlan(t *testing.T, id string) Plan {
	t.Helper()
	dir := t.TempDir()
	p, err := NewPlan(Spec{VMID: id, Image: "/img/rootfs.ext4", ImageSize: 4 << 20, COW: filepath.Join(dir, "root.cow")})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestManager(sys *fakeSystem) *Manager {
	return &Manager{sys: sys, retry: 4, backoff: 0}
}

func TestCreatePlan(t *testing.T) {
	sys := &fakeSystem{devices: []Device{{Name: "other", UUID: "LVM-x"}}}
	m := newTestManager(sys)
	p := testPlan(t, "vm1")
	var recorded []Names
	disk, err := m.Create(context.Background(), p, func(n Names) error {
		if len(sys.log) != 0 {
			t.Errorf("names recorded after %v", sys.log)
		}
		recorded = append(recorded, n)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("sparse %s %d", p.Names.COW, COWSize(4<<20)),
		"attach /img/rootfs.ext4 banger-vm1-origin ro=true -> /dev/loop0",
		"attach " + p.Names.COW + " banger-vm1-cow ro=false -> /dev/loop1",
		"dmsetup create banger-vm1-root --uuid BANGER-vm1-root --table 0 8192 snapshot /dev/loop0 /dev/loop1 P 8",
		"dmsetup mknodes banger-vm1-root",
		"close /dev/loop1",
		"close /dev/loop0",
	}
	if !reflect.DeepEqual(sys.log, want) {
		t.Fatalf("ops\n got %q\nwant %q", sys.log, want)
	}
	if disk.Path != "/dev/mapper/banger-vm1-root" || len(recorded) != 1 || recorded[0] != p.Names {
		t.Fatalf("disk %+v, recorded %+v", disk, recorded)
	}
}

// An existing COW file holds the VM's writes: reused, never recreated.
// An existing dm device: Create is a no-op.
func TestCreateIdempotent(t *testing.T) {
	p := testPlan(t, "vm1")
	if err := os.WriteFile(p.Names.COW, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	sys := &fakeSystem{}
	if _, err := newTestManager(sys).Create(context.Background(), p, nil); err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(sys.log[0], "sparse") {
		t.Fatalf("existing COW file recreated: %q", sys.log)
	}
	sys = &fakeSystem{devices: []Device{{Name: "banger-vm1-root", UUID: "BANGER-vm1-root"}}}
	disk, err := newTestManager(sys).Create(context.Background(), p, nil)
	if err != nil || disk.Path != p.Path() || len(sys.log) != 0 {
		t.Fatalf("Create over an existing device: %+v, %v, ops %q", disk, err, sys.log)
	}
}

// A failing dmsetup: the error carries its output, the loops are let go
// (their autoclear detaches them) and nothing else is touched.
func TestCreateFails(t *testing.T) {
	sys := &fakeSystem{failCreate: true}
	_, err := newTestManager(sys).Create(context.Background(), testPlan(t, "vm1"), nil)
	if err == nil || !strings.Contains(err.Error(), "dmsetup create") || !strings.Contains(err.Error(), "Invalid argument") {
		t.Fatalf("err = %v", err)
	}
	if got := sys.log[len(sys.log)-2:]; !reflect.DeepEqual(got, []string{"close /dev/loop1", "close /dev/loop0"}) {
		t.Fatalf("holds not closed: %q", sys.log)
	}
	// Recording failure stops everything before any host object.
	sys = &fakeSystem{}
	_, err = newTestManager(sys).Create(context.Background(), testPlan(t, "vm1"), func(Names) error { return errors.New("disk full") })
	if err == nil || len(sys.log) != 0 {
		t.Fatalf("record failure: %v, ops %q", err, sys.log)
	}
}

// Remove finds everything of one VM by name — dm first, retrying while
// busy, then labelled loops — and nothing of another VM.
func TestRemove(t *testing.T) {
	sys := &fakeSystem{
		busy: 2,
		devices: []Device{
			{Name: "banger-vm1-root", UUID: "BANGER-vm1-root"},
			{Name: "banger-vm1-x-root", UUID: "BANGER-vm1-x-root"}, // VM "vm1-x"
			{Name: "banger-vm1-data", UUID: "LVM-not-ours"},        // not our UUID
		},
		loops: []Loop{
			{Dev: "/dev/loop0", Label: "banger-vm1-origin"},
			{Dev: "/dev/loop1", Label: "banger-vm1-x-cow"},
			{Dev: "/dev/loop2", Label: "banger-vm1-cow"},
			{Dev: "/dev/loop3", Label: "/var/lib/docker/x"},
		},
	}
	if err := newTestManager(sys).Remove(context.Background(), "vm1"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"dmsetup remove banger-vm1-root", "dmsetup remove banger-vm1-root", "dmsetup remove banger-vm1-root",
		"detach /dev/loop0", "detach /dev/loop2",
	}
	if !reflect.DeepEqual(sys.log, want) {
		t.Fatalf("ops\n got %q\nwant %q", sys.log, want)
	}

	sys = &fakeSystem{busy: 100, devices: []Device{{Name: "banger-vm1-root", UUID: "BANGER-vm1-root"}}}
	err := newTestManager(sys).Remove(context.Background(), "vm1")
	if err == nil || !strings.Contains(err.Error(), "busy") || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Fatalf("forever busy: %v", err)
	}
	if len(sys.log) != 4 {
		t.Fatalf("attempts: %q", sys.log)
	}

	sys = &fakeSystem{}
	if err := newTestManager(sys).Remove(context.Background(), "gone"); err != nil || len(sys.log) != 0 {
		t.Fatalf("Remove of nothing: %v, %q", err, sys.log)
	}
}
