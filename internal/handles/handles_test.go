package handles

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/rootfs/dmsnap"
	"github.com/bangerdev/banger/internal/vmm"
)

// full is a record with every section set, as a running VM's would be.
func full(path string) *Record {
	r := New(path, "0123456789ab")
	r.Disk = &Disk{State: Created, Disk: rootfs.Disk{Path: "/s/vms/0123456789ab/disk.cow", Format: "raw", Strategy: rootfs.DMSnapshot, DM: &dmsnap.Names{DM: "banger-0123456789ab-snap"}}, DM: Created}
	r.Network = &Network{Lease: Created, IP: "10.0.0.5", MAC: "02:00:00:00:00:05", Attach: Creating, Resources: hostnet.Resources{Tap: "bg-0123456789ab", IP: "10.0.0.5", Marker: "banger:0123456789ab"}}
	r.Netns = &Netns{State: Creating, IP: "10.88.0.5", MAC: "0a:58:0a:58:00:05", Handles: hostnet.NetnsHandles{Path: "/var/run/netns/pod", Inode: 4026532, Tap: "bg-0123456789ab", Veth: "eth0", Ingress: true}}
	r.RunDir = &RunDir{State: Created, Path: "/r/vms/0123456789ab"}
	r.Volumes = &Volumes{Mounts: []VolumeMount{
		{Type: "bind", Target: "/data", Share: Created, Socket: "/r/vms/0123456789ab/fs0.sock", Log: "/r/vms/0123456789ab/fs0.log", Process: proc.Identity{PID: 43, StartTime: 8, BootID: "b"}},
		{Type: "volume", Target: "/db", Claim: Created, Volume: "pgdata"},
		{Type: "image", Target: "/site", Image: "/s/vms/0123456789ab/mount-2.ext4", ImageState: Created},
	}}
	r.VMM = &VMM{State: Created, Handles: vmm.Handles{Backend: vmm.QEMU, Process: proc.Identity{PID: 42, StartTime: 7, BootID: "b"}, Sockets: map[string]string{"qmp": "/r/vms/0123456789ab/qmp.sock"}}}
	r.Snapshot = &Snapshot{State: Creating, Dir: "/s/snapshots/.tmp-0123456789ab-a1b2c3"}
	r.Checkpoint = &Snapshot{State: Creating, Dir: "/s/checkpoints/.tmp-0123456789ab-d4e5f6"}
	return r
}

func TestSaveThenOpenKeepsEverySection(t *testing.T) {
	p := filepath.Join(t.TempDir(), FileName)
	r := full(p)
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := Open(p, r.VMID)
	if err != nil {
		t.Fatal(err)
	}
	want, have := r.Copy(), got.Copy()
	want.Updated = have.Updated
	if !reflect.DeepEqual(want, have) {
		t.Fatalf("reopened record differs:\n got %+v\nwant %+v", have, want)
	}
	if !got.Running() || got.Empty() || len(got.Broken) != 0 {
		t.Fatalf("running %v empty %v broken %v", got.Running(), got.Empty(), got.Broken)
	}
}

func TestCopyIsDeep(t *testing.T) {
	r := full(filepath.Join(t.TempDir(), FileName))
	c := r.Copy()
	r.VMM.Handles.Sockets["qmp"] = "changed"
	r.Disk.Disk.DM.DM = "changed"
	r.Network.Resources.Tap = "changed"
	r.Volumes.Mounts[0].Socket = "changed"
	r.Snapshot.Dir = "changed"
	r.Checkpoint.Dir = "changed"
	r.Netns.Handles.Tap = "changed"
	if c.Netns.Handles.Tap == "changed" || c.Snapshot.Dir == "changed" || c.Checkpoint.Dir == "changed" || c.VMM.Handles.Sockets["qmp"] == "changed" || c.Disk.Disk.DM.DM == "changed" || c.Network.Resources.Tap == "changed" || c.Volumes.Mounts[0].Socket == "changed" {
		t.Fatalf("copy shares state with the original: %+v", c)
	}
}

func TestRunningAndEmpty(t *testing.T) {
	stopped := &Record{Disk: &Disk{State: Created}, Network: &Network{Lease: Created}}
	if stopped.Running() || stopped.Empty() {
		t.Errorf("a stopped VM's record (disk and lease kept): running %v empty %v", stopped.Running(), stopped.Empty())
	}
	for name, r := range map[string]*Record{
		"dm up":      {Disk: &Disk{DM: Creating}},
		"attached":   {Network: &Network{Attach: Creating}},
		"netns":      {Netns: &Netns{State: Creating}},
		"run dir":    {RunDir: &RunDir{}},
		"vmm":        {VMM: &VMM{}},
		"snapshot":   {Snapshot: &Snapshot{State: Creating}},
		"checkpoint": {Checkpoint: &Snapshot{State: Creating}},
		"broken":     {Broken: []string{"vmm"}},
		"share":      {Volumes: &Volumes{Mounts: []VolumeMount{{Share: Creating}}}},
		"claim":      {Volumes: &Volumes{Mounts: []VolumeMount{{Claim: Created}}}},
	} {
		if !r.Running() {
			t.Errorf("%s: Running() = false", name)
		}
	}
	if !(&Record{}).Empty() {
		t.Error("zero record is not empty")
	}
	// A directory's image is kept across stops, like the disk.
	images := &Record{Volumes: &Volumes{Mounts: []VolumeMount{{Type: "image", Image: "/x", ImageState: Created}}}}
	if images.Running() || images.Empty() {
		t.Errorf("a stopped VM's images: running %v empty %v", images.Running(), images.Empty())
	}
}

// A section that does not decode is reported by name; the others are
// still there, so their release runs.
func TestBrokenSectionDoesNotHideTheOthers(t *testing.T) {
	p := filepath.Join(t.TempDir(), FileName)
	r := full(p)
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	b, _ := os.ReadFile(p)
	_ = json.Unmarshal(b, &raw)
	raw["vmm"] = json.RawMessage(`{"state":"created","handles":{"process":"not an object"}}`)
	b, _ = json.Marshal(raw)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Open(p, r.VMID)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("want ErrCorrupt, got %v", err)
	}
	if !slices.Equal(got.Broken, []string{"vmm"}) || got.VMM != nil {
		t.Fatalf("broken %v vmm %+v", got.Broken, got.VMM)
	}
	if got.Disk == nil || got.Network == nil || got.RunDir == nil || got.Network.Resources.Tap != "bg-0123456789ab" {
		t.Fatalf("good sections lost: %+v", got)
	}
	if !got.IsBroken("vmm") || got.IsBroken("disk") || !got.Running() {
		t.Fatalf("IsBroken(vmm) %v IsBroken(disk) %v Running %v", got.IsBroken("vmm"), got.IsBroken("disk"), got.Running())
	}
	got.Repaired("vmm")
	if len(got.Broken) != 0 || got.IsBroken("vmm") {
		t.Fatalf("after Repaired: %v", got.Broken)
	}
}

// A section written as null is none, as a missing one: not an empty
// section that would make the record look like it holds something.
func TestNullSectionIsNone(t *testing.T) {
	r := New("unused", "0123456789ab")
	if err := r.decode([]byte(`{"version":2,"vm_id":"0123456789ab","vmm":null,"disk":null,"netns":null}`)); err != nil {
		t.Fatal(err)
	}
	if r.VMM != nil || r.Disk != nil || r.Netns != nil || !r.Empty() || r.Running() {
		t.Fatalf("null sections decoded to %+v (empty %v, running %v)", r, r.Empty(), r.Running())
	}
}

// A record cut at any byte (a disk that lost the tail of a write) never
// reads as "holds nothing": either it decodes whole, or it is broken and
// the VM is released by its id.
func TestTruncatedAtEveryByte(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	r := full(p)
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	cut := filepath.Join(dir, "cut.json")
	for n := range len(b) {
		if err := os.WriteFile(cut, b[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Open(cut, r.VMID)
		if err == nil {
			t.Fatalf("cut at %d of %d: no error", n, len(b))
		}
		if !got.Running() || got.Empty() {
			t.Fatalf("cut at %d: record says it holds nothing (broken %v)", n, got.Broken)
		}
	}
}

func TestOpenRefusesAnotherVMsOrVersion(t *testing.T) {
	p := filepath.Join(t.TempDir(), FileName)
	if err := full(p).Save(); err != nil {
		t.Fatal(err)
	}
	got, err := Open(p, "ffffffffffff")
	if !errors.Is(err, ErrCorrupt) || !slices.Equal(got.Broken, Sections) || got.VMM != nil {
		t.Fatalf("another VM's file: err %v broken %v", err, got.Broken)
	}
	if err := os.WriteFile(p, []byte(`{"version":9,"vm_id":"0123456789ab"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, "0123456789ab"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 9: %v", err)
	}
	missing, err := Open(filepath.Join(t.TempDir(), FileName), "0123456789ab")
	if err != nil || !missing.Empty() {
		t.Fatalf("no file: %v, %+v", err, missing)
	}
}

func TestRemoveOnlyWhenEmpty(t *testing.T) {
	p := filepath.Join(t.TempDir(), FileName)
	r := full(p)
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(); err == nil {
		t.Fatal("Remove of a record naming resources succeeded")
	}
	r.Disk, r.Network, r.RunDir, r.Volumes, r.VMM, r.Snapshot = nil, nil, nil, nil, nil, nil
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(); err == nil {
		t.Fatal("Remove of a record naming a checkpoint in progress succeeded")
	}
	r.Checkpoint = nil
	if err := r.Remove(); err == nil {
		t.Fatal("Remove of a record naming a tap in a network namespace succeeded")
	}
	r.Netns = nil
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
}

func TestFailedSaveSaysWhich(t *testing.T) {
	r := New(filepath.Join(t.TempDir(), "missing-dir", FileName), "0123456789ab")
	if err := r.Save(); err == nil {
		t.Fatal("save into a missing directory succeeded")
	}
}

func TestFromLegacy(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.json")
	v1 := `{"version":1,"vm_id":"0123456789ab","resources":[
	 {"kind":"runtime-dir","name":"/r/vms/0123456789ab","scope":"runtime","state":"created"},
	 {"kind":"disk","name":"/s/vms/0123456789ab/disk.qcow2","scope":"persistent","state":"created","data":{"path":"/s/vms/0123456789ab/disk.qcow2","format":"qcow2","strategy":"qcow2"}},
	 {"kind":"lease","name":"0123456789ab","scope":"persistent","state":"created","data":{"tap":"bg-0123456789ab","ip":"10.0.0.5","mac":"02:00:00:00:00:05","nft_marker":"banger:0123456789ab"}},
	 {"kind":"tap","name":"bg-0123456789ab","scope":"runtime","state":"created"},
	 {"kind":"nft","name":"banger:0123456789ab","scope":"runtime","state":"created","data":{"tap":"bg-0123456789ab","nft_marker":"banger:0123456789ab"}},
	 {"kind":"vmm","name":"0123456789ab","scope":"runtime","state":"created","data":{"backend":"qemu","process":{"pid":42,"start_time":7,"boot_id":"b"},"sockets":{"qmp":"/r/vms/0123456789ab/qmp.sock"}}}]}`
	if err := os.WriteFile(old, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := FromLegacy(old, filepath.Join(dir, FileName), "0123456789ab")
	if err != nil {
		t.Fatal(err)
	}
	if r.Disk == nil || r.Disk.Disk.Format != "qcow2" || r.Disk.DM != "" {
		t.Errorf("disk %+v", r.Disk)
	}
	if n := r.Network; n == nil || n.IP != "10.0.0.5" || n.Lease != Created || n.Attach != Created || n.Resources.Tap != "bg-0123456789ab" || n.Resources.Marker == "" {
		t.Errorf("network %+v", r.Network)
	}
	if r.VMM == nil || r.VMM.Handles.Process.PID != 42 || r.VMM.Handles.Backend != vmm.QEMU || r.RunDir == nil {
		t.Errorf("vmm %+v run dir %+v", r.VMM, r.RunDir)
	}
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := FromLegacy(filepath.Join(dir, "none.json"), filepath.Join(dir, FileName), "0123456789ab"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing legacy file: %v", err)
	}
}

// FuzzOpen: whatever bytes the file holds, decoding does not panic, an
// error always names what is broken, and a record that decodes whole
// encodes and decodes to the same value.
func FuzzOpen(f *testing.F) {
	p := filepath.Join(f.TempDir(), FileName)
	if err := full(p).Save(); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	f.Add(b)
	f.Add([]byte(`{"version":2,"vm_id":"0123456789ab","vmm":null}`))
	f.Add([]byte(`{"version":2,"vm_id":"0123456789ab","disk":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := New("unused", "0123456789ab")
		if err := r.decode(data); err != nil {
			if len(r.Broken) == 0 {
				t.Fatalf("error %v but nothing reported broken", err)
			}
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		back := New("unused", "0123456789ab")
		if err := back.decode(b); err != nil {
			t.Fatalf("decode of an encoded record: %v", err)
		}
		a, c := r.Copy(), back.Copy()
		if !reflect.DeepEqual(a, c) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", a, c)
		}
	})
}
