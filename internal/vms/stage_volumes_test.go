package vms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

const volUUID = "11111111-2222-4333-8444-555555555555"

// volumesFixture is a fixture whose backend shares directories and
// attaches drives, with a named volume "pg" and two host directories.
func volumesFixture(t *testing.T) (*fixture, string, string) {
	t.Helper()
	f := newFixture(t, func(f *fixture) { f.b.caps.SharedDirs, f.b.caps.ExtraDrives = true, true })
	f.v.add("pg", volUUID)
	a, b := t.TempDir(), t.TempDir()
	return f, a, b
}

// withMounts sets a spec's mounts.
func withMounts(ms ...volumes.Mount) func(*Spec) { return func(s *Spec) { s.Mounts = ms } }

func readRecord(t *testing.T, f *fixture, id string) *handles.Record {
	t.Helper()
	rec, err := handles.Open(filepath.Join(f.l.VM(id), handles.FileName), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// A VM's mounts reach the VMM (shared directories, drives) and the guest
// (what to mount where), through a stage that runs before the VMM.
func TestVolumesStageGivesTheVMItsMounts(t *testing.T) {
	f, dirA, dirB := volumesFixture(t)
	vm := f.create("web", withMounts(
		volumes.Mount{Type: volumes.TypeBind, Source: dirA, Target: "/data", ReadOnly: true},
		volumes.Mount{Type: volumes.TypeVolume, Source: "pg", Target: "/db"},
		volumes.Mount{Type: volumes.TypeImage, Source: dirB, Target: "/site"},
	))
	res, err := f.s.Start(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Timings["volumes"]; !ok {
		t.Errorf("no volumes stage timing: %v", res.Timings)
	}
	ops := f.h.log()
	if s, v := slices.Index(ops, "share.start"), slices.Index(ops, "vmm.start"); s < 0 || v < s {
		t.Fatalf("virtiofsd must run before the VMM: %v", ops)
	}
	spec := f.b.specs[0]
	if !strings.HasSuffix(spec.Cmdline, " banger.load=virtiofs") {
		t.Errorf("kernel command line %q does not load virtio-fs's modules", spec.Cmdline)
	}
	run := f.l.VMRuntime(vm.ID)
	if want := []vmm.SharedDir{{Tag: "vol0", Socket: filepath.Join(run, "fs0.sock"), Desc: "-v " + dirA + ":/data:ro"}}; !slices.Equal(spec.SharedDirs, want) {
		t.Errorf("shared dirs %+v, want %+v", spec.SharedDirs, want)
	}
	image := filepath.Join(f.l.VM(vm.ID), "mount-2.ext4")
	if want := []vmm.Drive{{ID: "vol1", Path: "/volumes/pg/volume.ext4"}, {ID: "img2", Path: image}}; !slices.Equal(spec.Drives[2:], want) {
		t.Errorf("extra drives %+v, want %+v", spec.Drives[2:], want)
	}
	cfg, err := bootcfg.Read(filepath.Join(f.l.VM(vm.ID), "config.img"))
	if err != nil {
		t.Fatal(err)
	}
	want := []bootcfg.Mount{
		{Type: bootcfg.MountVirtioFS, Source: "vol0", Target: "/data", ReadOnly: true},
		{Type: bootcfg.MountExt4, Source: volUUID, Target: "/db", CopyUp: true},
		{Type: bootcfg.MountExt4, Source: fakeUUID(dirB), Target: "/site"},
	}
	if !slices.Equal(cfg.Mounts, want) {
		t.Errorf("guest mounts %+v, want %+v", cfg.Mounts, want)
	}
	if s := f.v.shares[filepath.Join(run, "fs0.sock")]; s.Dir != dirA || !s.ReadOnly || s.VMID != vm.ID {
		t.Errorf("virtiofsd started as %+v", s)
	}
	if f.v.claims["pg"] != vm.ID {
		t.Errorf("volume pg held by %q", f.v.claims["pg"])
	}
	rec := readRecord(t, f, vm.ID)
	if m := rec.Volumes.Mounts; len(m) != 3 || m[0].Share != handles.Created || m[0].Process.PID == 0 ||
		m[1].Claim != handles.Created || m[1].Volume != "pg" || m[2].ImageState != handles.Created || m[2].Image != image {
		t.Errorf("record %+v", rec.Volumes)
	}
}

// What the stage makes is in the record on disk before it is made.
func TestVolumesAreRecordedBeforeTheyAreMade(t *testing.T) {
	f, dirA, dirB := volumesFixture(t)
	vm := f.create("web", withMounts(
		volumes.Mount{Type: volumes.TypeBind, Source: dirA, Target: "/data"},
		volumes.Mount{Type: volumes.TypeVolume, Source: "pg", Target: "/db"},
		volumes.Mount{Type: volumes.TypeImage, Source: dirB, Target: "/site"},
	))
	checks := map[string]func(m []handles.VolumeMount) bool{
		"share.start":  func(m []handles.VolumeMount) bool { return m[0].Share == handles.Creating && m[0].Socket != "" },
		"volume.claim": func(m []handles.VolumeMount) bool { return m[1].Claim == handles.Creating && m[1].Volume == "pg" },
		"image.build":  func(m []handles.VolumeMount) bool { return m[2].ImageState == handles.Creating && m[2].Image != "" },
	}
	seen := map[string]bool{}
	f.h.onOp = func(op string) {
		if check, ok := checks[op]; ok {
			seen[op] = true
			if rec := readRecord(t, f, vm.ID); rec.Volumes == nil || !check(rec.Volumes.Mounts) {
				t.Errorf("at %s the record does not name it yet: %+v", op, rec.Volumes)
			}
		}
	}
	if _, err := f.s.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(checks) {
		t.Fatalf("checked %v of %d", seen, len(checks))
	}
}

// A stop ends the virtiofsd processes and lets the volume go; the
// directory's image stays and is not made again; rm removes it and leaves
// the named volume.
func TestVolumesAcrossStopStartAndRm(t *testing.T) {
	f, dirA, dirB := volumesFixture(t)
	vm := f.create("web", withMounts(
		volumes.Mount{Type: volumes.TypeBind, Source: dirA, Target: "/data"},
		volumes.Mount{Type: volumes.TypeVolume, Source: "pg", Target: "/db"},
		volumes.Mount{Type: volumes.TypeImage, Source: dirB, Target: "/site"},
	))
	image := filepath.Join(f.l.VM(vm.ID), "mount-2.ext4")
	for i := range 2 {
		if _, err := f.s.Start(context.Background(), "web"); err != nil {
			t.Fatal(err)
		}
		if f.v.running(vm.ID) != 1 || f.v.claims["pg"] != vm.ID {
			t.Fatalf("start %d: %d virtiofsd, pg held by %q", i, f.v.running(vm.ID), f.v.claims["pg"])
		}
		if _, err := f.s.Stop(context.Background(), "web", 0); err != nil {
			t.Fatal(err)
		}
		if f.v.running(vm.ID) != 0 || f.v.claims["pg"] != "" {
			t.Fatalf("stop %d left %d virtiofsd, pg held by %q", i, f.v.running(vm.ID), f.v.claims["pg"])
		}
		if _, err := os.Stat(image); err != nil {
			t.Fatalf("stop %d removed the directory's image: %v", i, err)
		}
		if rec := readRecord(t, f, vm.ID); rec.Running() {
			t.Fatalf("stop %d: record still names runtime resources: %+v", i, rec.Volumes)
		}
	}
	if n := count(f.h.log(), "image.build"); n != 1 {
		t.Errorf("image made %d times over two starts", n)
	}
	if err := f.s.Remove(context.Background(), "web", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(image); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rm left the image: %v", err)
	}
	if _, err := f.v.Get("pg"); err != nil {
		t.Errorf("rm of the VM took the named volume: %v", err)
	}
}

// A start that fails releases exactly the shares and holds it made.
func TestFailedStartReleasesVolumes(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name   string
		inject func(f *fixture)
		stage  string
	}{
		{"second share", func(f *fixture) { f.v.failShare = 2 }, "volumes"},
		{"held elsewhere", func(f *fixture) { f.v.claims["pg"] = "othervm" }, "volumes"},
		{"vmm", func(f *fixture) { f.b.recordThenFail = true }, "vmm"},
		{"agent", func(f *fixture) { f.h.failOn("agent.handshake", boom) }, "agent"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, dirA, dirB := volumesFixture(t)
			vm := f.create("web", withMounts(
				volumes.Mount{Type: volumes.TypeBind, Source: dirA, Target: "/a"},
				volumes.Mount{Type: volumes.TypeBind, Source: dirB, Target: "/b"},
				volumes.Mount{Type: volumes.TypeVolume, Source: "pg", Target: "/db"},
			))
			tt.inject(f)
			_, err := f.s.Start(context.Background(), "web")
			var se *stageError
			if !errors.As(err, &se) || se.stage != tt.stage {
				t.Fatalf("start: %v; want a failure at stage %s", err, tt.stage)
			}
			if n := f.v.running(vm.ID); n != 0 {
				t.Errorf("%d virtiofsd left", n)
			}
			if holder := f.v.claims["pg"]; holder == vm.ID {
				t.Error("the failed VM still holds pg")
			}
			if tt.name == "held elsewhere" && (f.v.claims["pg"] != "othervm" || !errors.Is(err, errdefs.ErrConflict)) {
				t.Errorf("the other VM's hold: %q, %v", f.v.claims["pg"], err)
			}
			if rec := readRecord(t, f, vm.ID); rec.Running() {
				t.Errorf("record still names runtime resources: %+v", rec.Volumes)
			}
		})
	}
}

// A record whose volumes section cannot be read releases by the VM id:
// every virtiofsd carrying it, every volume it holds.
func TestBrokenVolumesSectionReleasesByVMID(t *testing.T) {
	f, dirA, _ := volumesFixture(t)
	vm := f.create("web", withMounts(volumes.Mount{Type: volumes.TypeBind, Source: dirA, Target: "/a"}))
	if err := os.MkdirAll(f.l.VM(vm.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.l.VM(vm.ID), handles.FileName)
	if err := os.WriteFile(p, []byte(`{"version":2,"vm_id":"`+vm.ID+`","volumes":{"mounts":"garbage"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	ops := f.h.log()
	if i, j := slices.Index(ops, "share.stopall"), slices.Index(ops, "volume.unclaimall"); i < 0 || j < 0 || i > slices.Index(ops, "share.start") {
		t.Fatalf("the broken section was not released by the VM id before the start: %v", ops)
	}
}

// Mounts that cannot work are refused at create, naming the flag, and no
// VM is made.
func TestCreateRefusesMountsThatCannotWork(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		setup func(f *fixture)
		m     []volumes.Mount
		is    error
		want  string
	}{
		{"missing host path", nil, []volumes.Mount{{Type: volumes.TypeBind, Source: "/nonexistent/x", Target: "/d"}}, errdefs.ErrInvalid,
			"-v /nonexistent/x:/d: host path /nonexistent/x does not exist"},
		{"a file", nil, []volumes.Mount{{Type: volumes.TypeImage, Source: file, Target: "/d"}}, errdefs.ErrInvalid, "is not a directory"},
		{"relative", nil, []volumes.Mount{{Type: volumes.TypeBind, Source: "data", Target: "/d"}}, errdefs.ErrInvalid, `host path "data" is not absolute`},
		{"on /", nil, []volumes.Mount{{Type: volumes.TypeBind, Source: "/tmp", Target: "/"}}, errdefs.ErrInvalid, "cannot be /"},
		{"twice on one path", nil, []volumes.Mount{{Type: volumes.TypeBind, Source: "/tmp", Target: "/d"}, {Type: volumes.TypeVolume, Source: "pg", Target: "/d"}},
			errdefs.ErrInvalid, "-v pg:/d: guest path /d is also the target of -v /tmp:/d"},
		{"no such volume", nil, []volumes.Mount{{Type: volumes.TypeVolume, Source: "nope", Target: "/d"}}, errdefs.ErrNotFound, "-v nope:/d:"},
		{"no virtio-fs in the VMM", func(f *fixture) { f.b.caps.SharedDirs = false }, []volumes.Mount{{Type: volumes.TypeBind, Source: "/tmp", Target: "/d", ReadOnly: true}},
			errdefs.ErrUnsupported, "-v /tmp:/d:ro: not supported: the VMM cannot share a host directory live (it has no virtio-fs); copy it into the VM with `--mount type=image,source=/tmp,target=/d,readonly`"},
		{"no virtio-fs in the kernel", func(f *fixture) { f.h.noVirtioFS = true }, []volumes.Mount{{Type: volumes.TypeBind, Source: "/tmp", Target: "/d"}},
			errdefs.ErrUnsupported, "kernel k1 cannot mount shared directories"},
		{"no extra drives", func(f *fixture) { f.b.caps.ExtraDrives = false }, []volumes.Mount{{Type: volumes.TypeVolume, Source: "pg", Target: "/d"}},
			errdefs.ErrUnsupported, "cannot attach more drives"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := volumesFixture(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			_, err := f.s.Create(context.Background(), "web", Spec{Image: "busybox", Mounts: tt.m})
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("create: %v; want %v containing %q", err, tt.is, tt.want)
			}
			if vms, _ := f.s.List(true); len(vms) != 0 {
				t.Errorf("a VM was made: %+v", vms)
			}
		})
	}
}

// The backend is picked again at start (auto may pick another): one that
// cannot share directories is refused there too, before anything runs.
func TestStartRefusesSharedDirsWithoutTheCapability(t *testing.T) {
	f, dirA, _ := volumesFixture(t)
	f.create("web", withMounts(volumes.Mount{Type: volumes.TypeBind, Source: dirA, Target: "/a"}))
	f.b.caps.SharedDirs = false
	_, err := f.s.Start(context.Background(), "web")
	var se *stageError
	if !errors.As(err, &se) || se.stage != "volumes" || !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "--mount type=image,source="+dirA) {
		t.Fatalf("start: %v", err)
	}
	if f.h.did("share.start") || f.h.did("vmm.start") {
		t.Errorf("something started: %v", f.h.log())
	}
}

// A VM that shares a directory says it cannot be snapshotted; drives do
// not block.
func TestSnapshotBlocker(t *testing.T) {
	shared := VM{Name: "web", Spec: Spec{Mounts: []volumes.Mount{{Type: volumes.TypeVolume, Source: "pg", Target: "/db"}, {Type: volumes.TypeBind, Source: "/srv", Target: "/srv"}}}}
	err := shared.SnapshotBlocker()
	if !errors.Is(err, vmm.ErrNotMigratable) || !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "-v /srv:/srv") {
		t.Fatalf("SnapshotBlocker = %v", err)
	}
	drives := VM{Spec: Spec{Mounts: []volumes.Mount{{Type: volumes.TypeVolume, Source: "pg", Target: "/db"}, {Type: volumes.TypeImage, Source: "/s", Target: "/s"}}}}
	if err := drives.SnapshotBlocker(); err != nil {
		t.Fatalf("a VM with only drives is blocked: %v", err)
	}
}

// The volume catalog asks which VMs mount a volume (to refuse its rm).
func TestVolumeUsers(t *testing.T) {
	f, dirA, _ := volumesFixture(t)
	web := f.create("web", withMounts(volumes.Mount{Type: volumes.TypeVolume, Source: "pg", Target: "/db"}))
	f.create("other", withMounts(volumes.Mount{Type: volumes.TypeBind, Source: dirA, Target: "/pg"}))
	var got []volumes.User
	if err := f.st.View(func(tx *store.Tx) error { got = VolumeUsers(tx, "pg"); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []volumes.User{{ID: web.ID, Name: "web"}}; !slices.Equal(got, want) {
		t.Fatalf("users of pg %+v, want %+v", got, want)
	}
}

// Only a VM that shares a directory loads virtio-fs's modules; one with
// drives alone boots as any other.
func TestOnlySharedDirsLoadVirtioFS(t *testing.T) {
	f, _, _ := volumesFixture(t)
	f.create("db", withMounts(volumes.Mount{Type: volumes.TypeVolume, Source: "pg", Target: "/db"}))
	if _, err := f.s.Start(context.Background(), "db"); err != nil {
		t.Fatal(err)
	}
	if spec := f.b.specs[0]; strings.Contains(spec.Cmdline, "banger.load") || len(spec.SharedDirs) != 0 {
		t.Errorf("a VM without shared directories: cmdline %q, shared dirs %v", spec.Cmdline, spec.SharedDirs)
	}
}
