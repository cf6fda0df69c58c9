package rootfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/errdefs"
)

func TestCommands(t *testing.T) {
	tests := []struct {
		got, want []string
		ok        []int
	}{
		{growRaw("/v/rootfs.ext4")[0].Argv, []string{"e2fsck", "-f", "-y", "/v/rootfs.ext4"}, []int{1}},
		{growRaw("/v/rootfs.ext4")[1].Argv, []string{"resize2fs", "/v/rootfs.ext4"}, nil},
		{qcow2Create("/i/rootfs.ext4", "/v/rootfs.qcow2", 0).Argv, []string{"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/i/rootfs.ext4", "/v/rootfs.qcow2"}, nil},
		{qcow2Create("/i/rootfs.ext4", "/v/rootfs.qcow2", 1<<30).Argv, []string{"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/i/rootfs.ext4", "/v/rootfs.qcow2", "1073741824"}, nil},
	}
	for _, tt := range tests {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("argv %q; want %q", tt.got, tt.want)
		}
	}
	if ok := growRaw("x")[0].OKExit; !slices.Equal(ok, []int{1}) {
		t.Errorf("e2fsck OK exits %v; want [1] (errors corrected)", ok)
	}
}

// recorder is a Runner that records commands and runs none.
type recorder struct{ cmds []Command }

func (r *recorder) Run(_ context.Context, c Command) error {
	r.cmds = append(r.cmds, c)
	return nil
}

// fakeDM stands in for rootfs/dmsnap's provider: it names a dm device and
// records calls.
type fakeDM struct{ created, removed []string }

func (f *fakeDM) Plan(req Request) (Disk, error) {
	return Disk{Path: "/dev/mapper/banger-" + req.VMID + "-root", Format: "raw",
		Devices: map[string]string{"origin-loop": "", "cow-loop": "", "dm": "banger-" + req.VMID + "-root"}}, nil
}
func (f *fakeDM) Create(_ context.Context, d Disk) error {
	f.created = append(f.created, d.Path)
	return nil
}
func (f *fakeDM) Remove(_ context.Context, d Disk) error {
	f.removed = append(f.removed, d.Path)
	return nil
}

func TestChoose(t *testing.T) {
	yes, no := Capability{OK: true, Reason: "yes"}, Capability{Reason: "not here"}
	tests := []struct {
		name     string
		caps     Capabilities
		sameFS   bool
		dm       bool // a dm-snapshot provider is plugged in
		backend  string
		strategy Strategy
		want     Strategy
		err      string
	}{
		{"reflink first", Capabilities{Reflink: yes, QCOW2: yes, DMSnapshot: yes}, true, true, "qemu", Auto, Reflink, ""},
		{"reflink for firecracker", Capabilities{Reflink: yes}, true, false, "firecracker", "", Reflink, ""},
		{"no reflink across file systems", Capabilities{Reflink: yes, QCOW2: yes}, false, false, "qemu", Auto, QCOW2, ""},
		{"qcow2 for qemu", Capabilities{Reflink: no, QCOW2: yes, DMSnapshot: yes}, true, true, "qemu", Auto, QCOW2, ""},
		{"no qemu-img: copy", Capabilities{Reflink: no, QCOW2: no}, true, false, "qemu", Auto, Copy, ""},
		{"dm for firecracker", Capabilities{Reflink: no, QCOW2: yes, DMSnapshot: yes}, true, true, "firecracker", Auto, DMSnapshot, ""},
		{"dm without provider: copy", Capabilities{Reflink: no, DMSnapshot: yes}, true, false, "firecracker", Auto, Copy, ""},
		{"dm provider without device-mapper: copy", Capabilities{Reflink: no, DMSnapshot: no}, true, true, "firecracker", Auto, Copy, ""},
		{"forced copy", Capabilities{Reflink: yes, QCOW2: yes}, true, false, "qemu", Copy, Copy, ""},
		{"forced qcow2 on firecracker", Capabilities{QCOW2: yes}, true, false, "firecracker", QCOW2, "", "need the qemu backend"},
		{"forced reflink unsupported", Capabilities{Reflink: no}, true, false, "qemu", Reflink, "", "not here"},
		{"forced dm without provider", Capabilities{DMSnapshot: yes}, true, false, "firecracker", DMSnapshot, "", "no dm-snapshot provider"},
		{"unknown", Capabilities{}, true, false, "qemu", "zfs-clone", "", "unknown strategy"},
	}
	old := sameFS
	t.Cleanup(func() { sameFS = old })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameFS = func(string, string) bool { return tt.sameFS }
			var opts []Option
			if tt.dm {
				opts = append(opts, WithProvider(DMSnapshot, &fakeDM{}))
			}
			m := New(opts...)
			vms := t.TempDir()
			m.caps[vms] = tt.caps
			got, why, err := m.choose(Request{Dir: filepath.Join(vms, "vm1"), Backend: tt.backend, Strategy: tt.strategy})
			if tt.err != "" {
				if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("choose = %v, %v; want ErrUnsupported mentioning %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want || why == "" {
				t.Fatalf("choose = %q (%q), %v; want %q with a reason", got, why, err, tt.want)
			}
		})
	}
}

// The dm-snapshot hook: a plugged-in provider is planned, created and
// removed through the Manager, which fills in the common fields.
func TestProviderHook(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "image.ext4")
	if err := os.WriteFile(img, make([]byte, 8192), 0o444); err != nil {
		t.Fatal(err)
	}
	dm := &fakeDM{}
	m := New(WithProvider(DMSnapshot, dm))
	m.caps[dir] = Capabilities{DMSnapshot: Capability{OK: true}} // vms/ does not exist yet
	d, err := m.Plan(Request{VMID: "vm1", Image: img, Dir: filepath.Join(dir, "vms", "vm1"), Backend: "firecracker", Strategy: DMSnapshot})
	if err != nil {
		t.Fatal(err)
	}
	if d.Strategy != DMSnapshot || d.Path != "/dev/mapper/banger-vm1-root" || d.Image != img || d.Size != 8192 || d.Devices["dm"] != "banger-vm1-root" || d.Reason == "" {
		t.Fatalf("plan = %+v", d)
	}
	ctx := context.Background()
	if err := m.Create(ctx, d); err != nil || !slices.Equal(dm.created, []string{d.Path}) {
		t.Fatalf("Create = %v, provider saw %v", err, dm.created)
	}
	if err := m.Remove(ctx, d); err != nil || !slices.Equal(dm.removed, []string{d.Path}) {
		t.Fatalf("Remove = %v, provider saw %v", err, dm.removed)
	}
}

func TestPlanRejects(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "image.ext4")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o444); err != nil {
		t.Fatal(err)
	}
	m := New()
	tests := []struct {
		name string
		req  Request
		is   error
		want string
	}{
		{"no vm id", Request{Image: img, Dir: dir}, errdefs.ErrInvalid, "needs a VM id"},
		{"missing image", Request{VMID: "v", Image: filepath.Join(dir, "nope"), Dir: dir}, errdefs.ErrNotFound, "nope"},
		{"smaller than the image", Request{VMID: "v", Image: img, Dir: dir, Size: 4096}, errdefs.ErrInvalid, "smaller than the image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Plan(tt.req)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Plan = %v; want %v mentioning %q", err, tt.is, tt.want)
			}
		})
	}
}

// Growing a raw disk runs e2fsck then resize2fs on it, after extending the
// file to the planned size.
func TestGrowRawCommands(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "image.ext4")
	if err := os.WriteFile(img, []byte("data"), 0o444); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	m := New(WithRunner(rec))
	d, err := m.Plan(Request{VMID: "v", Image: img, Dir: filepath.Join(dir, "vms", "v"), Size: 1 << 20, Strategy: Copy})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d.Path); err != nil || fi.Size() != 1<<20 {
		t.Fatalf("disk %s: %v, %v; want 1 MiB", d.Path, fi, err)
	}
	want := growRaw(d.Path)
	if len(rec.cmds) != 2 || !slices.Equal(rec.cmds[0].Argv, want[0].Argv) || !slices.Equal(rec.cmds[1].Argv, want[1].Argv) {
		t.Fatalf("commands %v; want %v", rec.cmds, want)
	}
}
