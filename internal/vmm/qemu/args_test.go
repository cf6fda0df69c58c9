package qemu

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func baseSpec() vmm.Spec {
	return vmm.Spec{
		ID:         "vm1",
		RuntimeDir: "/run/banger/vms/vm1",
		Kernel:     vmm.Kernel{BzImage: "/k/bzImage", Vmlinux: "/k/vmlinux", Initrd: "/k/initrd"},
		Cmdline:    "root=/dev/vda rw",
		CPUs:       2,
		MemoryMiB:  512,
		ConsoleLog: "/var/lib/banger/vms/vm1/console.log",
	}
}

// common is the part of every command line before the drives and NICs,
// with the descriptors it hands QEMU: the kernel and initrd (3, 4), the
// console log (5, set 1), the QMP and agent sockets (6, 7).
func common(accel, cpu, cmdline string) []string {
	return []string{
		"-name", "guest=banger-vm1",
		"-M", "microvm,acpi=on,rtc=on,isa-serial=on,memory-backend=mem",
		"-accel", accel, "-cpu", cpu, "-smp", "2", "-m", "512",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", "/proc/self/fd/3", "-initrd", "/proc/self/fd/4",
		"-append", cmdline,
		"-add-fd", "fd=5,set=1",
		"-chardev", "file,id=console,path=/dev/fdset/1,append=on",
		"-serial", "chardev:console",
		"-chardev", "socket,id=qmp,fd=6,server=on,wait=off",
		"-mon", "chardev=qmp,mode=control",
		"-object", "rng-random,id=rng0,filename=/dev/urandom",
		"-device", "virtio-rng-device,rng=rng0",
		"-device", "virtio-serial-device,id=vser0",
		"-chardev", "socket,id=agent,fd=7,server=on,wait=off",
		"-device", "virtserialport,bus=vser0.0,chardev=agent,name=banger.agent",
		"-object", "memory-backend-ram,id=mem,size=512M",
	}
}

// commonFiles are the files behind common's descriptors.
func commonFiles() []inherited {
	return []inherited{
		{Path: "/k/bzImage", Flag: os.O_RDONLY},
		{Path: "/k/initrd", Flag: os.O_RDONLY},
		{Path: "/var/lib/banger/vms/vm1/console.log", Flag: os.O_WRONLY | os.O_APPEND | os.O_CREATE},
		{Path: "/run/banger/vms/vm1/qmp.sock", Listen: true},
		{Path: "/run/banger/vms/vm1/agent.sock", Listen: true},
	}
}

func TestCommandLine(t *testing.T) {
	tcgCmdline := "root=/dev/vda rw console=ttyS0 reboot=t panic=-1 tsc_early_khz=2596122"
	tests := []struct {
		name    string
		edit    func(*vmm.Spec)
		accel   string
		backing map[string]backingFile
		sandbox string
		want    []string
		files   []inherited
	}{
		{
			name:  "tcg, no drives",
			accel: AccelTCG,
			want:  common("tcg", "max", tcgCmdline),
			files: commonFiles(),
		},
		{
			name:  "kvm: host cpu, no tsc rate",
			accel: AccelKVM,
			want:  common("kvm", "host", "root=/dev/vda rw console=ttyS0 reboot=t panic=-1"),
			files: commonFiles(),
		},
		{
			name:    "sandboxed",
			accel:   AccelKVM,
			sandbox: sandboxOpts,
			want: slices.Insert(common("kvm", "host", "root=/dev/vda rw console=ttyS0 reboot=t panic=-1"), 17,
				"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"),
			files: commonFiles(),
		},
		{
			name:  "root drive first, extra qcow2 read-only, nic with mtu",
			accel: AccelTCG,
			edit: func(s *vmm.Spec) {
				s.Drives = []vmm.Drive{
					{ID: "data", Path: "/d/data.qcow2", Format: "qcow2", ReadOnly: true},
					{ID: "root", Path: "/d/root.ext4", Root: true},
				}
				s.NICs = []vmm.NIC{{ID: "eth0", Tap: "bg-1234abcd", MAC: "02:00:00:00:00:01", MTU: 1400}}
			},
			want: append(common("tcg", "max", tcgCmdline),
				"-add-fd", "fd=8,set=2", "-add-fd", "fd=9,set=2",
				"-drive", "id=disk0,if=none,file=/dev/fdset/2,format=raw,discard=unmap,file.locking=off",
				"-device", "virtio-blk-device,drive=disk0",
				"-add-fd", "fd=10,set=3",
				"-drive", "id=disk1,if=none,file=/dev/fdset/3,format=qcow2,readonly=on",
				"-device", "virtio-blk-device,drive=disk1",
				"-netdev", "tap,id=net0,fd=11",
				"-device", "virtio-net-device,netdev=net0,mac=02:00:00:00:00:01,host_mtu=1400",
			),
			files: append(commonFiles(),
				inherited{Path: "/d/root.ext4", Flag: os.O_RDWR}, inherited{Path: "/d/root.ext4", Flag: os.O_RDONLY},
				inherited{Path: "/d/data.qcow2", Flag: os.O_RDONLY}, inherited{Path: "bg-1234abcd", Tap: true}),
		},
		{
			name:  "qcow2 overlay: its backing image as a descriptor too",
			accel: AccelTCG,
			edit: func(s *vmm.Spec) {
				s.Drives = []vmm.Drive{{ID: "root", Path: "/vm/disk.qcow2", Format: "qcow2", Root: true}}
			},
			backing: map[string]backingFile{"/vm/disk.qcow2": {Path: "/img/rootfs.ext4", Format: "raw"}},
			want: append(common("tcg", "max", tcgCmdline),
				"-add-fd", "fd=8,set=2", "-add-fd", "fd=9,set=2", "-add-fd", "fd=10,set=3",
				"-drive", "id=disk0,if=none,file=/dev/fdset/2,format=qcow2,backing.file.filename=/dev/fdset/3,backing.driver=raw,discard=unmap,file.locking=off",
				"-device", "virtio-blk-device,drive=disk0",
			),
			files: append(commonFiles(),
				inherited{Path: "/vm/disk.qcow2", Flag: os.O_RDWR}, inherited{Path: "/vm/disk.qcow2", Flag: os.O_RDONLY},
				inherited{Path: "/img/rootfs.ext4", Flag: os.O_RDONLY}),
		},
		{
			name:  "paths never appear: a comma in one needs no escaping",
			accel: AccelTCG,
			edit: func(s *vmm.Spec) {
				s.Drives = []vmm.Drive{{ID: "root", Path: "/d/a,b.ext4", Root: true, ReadOnly: true}}
			},
			want: append(common("tcg", "max", tcgCmdline),
				"-add-fd", "fd=8,set=2",
				"-drive", "id=disk0,if=none,file=/dev/fdset/2,format=raw,readonly=on",
				"-device", "virtio-blk-device,drive=disk0",
			),
			files: append(commonFiles(), inherited{Path: "/d/a,b.ext4", Flag: os.O_RDONLY}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			if tt.edit != nil {
				tt.edit(&s)
			}
			got, files, err := commandLine(launch{spec: s, accel: tt.accel, tscKHz: 2596122, backing: tt.backing, sandbox: tt.sandbox})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("argv:\n got %q\nwant %q", got, tt.want)
			}
			if !slices.Equal(files, tt.files) {
				t.Errorf("files:\n got %+v\nwant %+v", files, tt.files)
			}
		})
	}
}

// A shared directory is a vhost-user-fs device on its virtiofsd's socket;
// the machine then gets its RAM from a shared memfd and modern
// virtio-mmio, and nothing else changes.
func TestCommandLineSharedDirs(t *testing.T) {
	s := baseSpec()
	s.SharedDirs = []vmm.SharedDir{{Tag: "v0", Socket: "/run/banger/vms/vm1/fs0.sock"}, {Tag: "v,1", Socket: "/run/x,y.sock"}}
	got, files, err := commandLine(launch{spec: s, accel: AccelTCG})
	if err != nil {
		t.Fatal(err)
	}
	want := common("tcg", "max", "root=/dev/vda rw console=ttyS0 reboot=t panic=-1")
	want[len(want)-1] = "memory-backend-memfd,id=mem,size=512M,share=on"
	want = append(want,
		"-global", "virtio-mmio.force-legacy=false",
		"-chardev", "socket,id=fs0,fd=8",
		"-device", "vhost-user-fs-device,chardev=fs0,tag=v0",
		"-chardev", "socket,id=fs1,fd=9",
		"-device", "vhost-user-fs-device,chardev=fs1,tag=v,,1",
	)
	if !slices.Equal(got, want) {
		t.Errorf("argv:\n got %q\nwant %q", got, want)
	}
	wantFiles := append(commonFiles(), inherited{Path: "/run/banger/vms/vm1/fs0.sock", Connect: true}, inherited{Path: "/run/x,y.sock", Connect: true})
	if !slices.Equal(files, wantFiles) {
		t.Errorf("files:\n got %+v\nwant %+v", files, wantFiles)
	}
	if err := s.SnapshotBlocker(); !errors.Is(err, vmm.ErrNotMigratable) || !strings.Contains(err.Error(), "v0, v,1") {
		t.Errorf("SnapshotBlocker = %v; want ErrNotMigratable naming the tags", err)
	}
	if err := baseSpec().SnapshotBlocker(); err != nil {
		t.Errorf("a spec without shared dirs is blocked: %v", err)
	}
}

func TestCommandLineVmlinuxWhenNoBzImage(t *testing.T) {
	s := baseSpec()
	s.Kernel.BzImage = ""
	s.Kernel.Initrd = ""
	got, files, err := commandLine(launch{spec: s, accel: AccelKVM})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.Index(got, "-kernel")
	if i < 0 || got[i+1] != "/proc/self/fd/3" || files[0].Path != "/k/vmlinux" || slices.Contains(got, "-initrd") {
		t.Fatalf("want -kernel /proc/self/fd/3 = /k/vmlinux and no -initrd, got %q, %+v", got, files)
	}
}

func TestCommandLineRejects(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*vmm.Spec)
		accel string
		want  string
	}{
		{"no id", func(s *vmm.Spec) { s.ID = "" }, AccelTCG, "no VM id"},
		{"unknown accel", nil, "hvf", `accelerator "hvf"`},
		{"no kernel", func(s *vmm.Spec) { s.Kernel = vmm.Kernel{} }, AccelTCG, "no kernel"},
		{"zero cpus", func(s *vmm.Spec) { s.CPUs = 0 }, AccelTCG, "cpus 0"},
		{"tiny memory", func(s *vmm.Spec) { s.MemoryMiB = 32 }, AccelTCG, "memory 32 MiB"},
		{"no console", func(s *vmm.Spec) { s.ConsoleLog = "" }, AccelTCG, "console log"},
		{"long runtime dir", func(s *vmm.Spec) { s.RuntimeDir = "/" + strings.Repeat("r", 100) }, AccelTCG, "too long for unix socket"},
		{"drive without path", func(s *vmm.Spec) { s.Drives = []vmm.Drive{{ID: "x"}} }, AccelTCG, `drive "x" has no path`},
		{"vmdk", func(s *vmm.Spec) { s.Drives = []vmm.Drive{{ID: "x", Path: "/x", Format: "vmdk"}} }, AccelTCG, `format "vmdk"`},
		{"long tap", func(s *vmm.Spec) { s.NICs = []vmm.NIC{{ID: "n", Tap: "bg-0123456789abc"}} }, AccelTCG, "want 1..15"},
		{"bad mac", func(s *vmm.Spec) { s.NICs = []vmm.NIC{{ID: "n", Tap: "t", MAC: "zz"}} }, AccelTCG, `mac "zz"`},
		{"long tag", func(s *vmm.Spec) { s.SharedDirs = []vmm.SharedDir{{Tag: strings.Repeat("t", 37), Socket: "/s"}} }, AccelTCG, "want 1..36 bytes"},
		{"two tags alike", func(s *vmm.Spec) { s.SharedDirs = []vmm.SharedDir{{Tag: "a", Socket: "/s"}, {Tag: "a", Socket: "/t"}} }, AccelTCG, `two shared dirs have the tag "a"`},
		{"no socket", func(s *vmm.Spec) { s.SharedDirs = []vmm.SharedDir{{Tag: "a"}} }, AccelTCG, `shared dir "a" socket ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			if tt.edit != nil {
				tt.edit(&s)
			}
			_, _, err := commandLine(launch{spec: s, accel: tt.accel})
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestGuestCmdline(t *testing.T) {
	tests := []struct {
		base, accel string
		tsc         int64
		want        string
	}{
		{"", AccelTCG, 0, "console=ttyS0 reboot=t panic=-1"},
		{"  quiet ", AccelTCG, 1000, "quiet console=ttyS0 reboot=t panic=-1 tsc_early_khz=1000"},
		{"init=/sbin/banger-agent", AccelKVM, 1000, "init=/sbin/banger-agent console=ttyS0 reboot=t panic=-1"},
	}
	for _, tt := range tests {
		if got := guestCmdline(tt.base, tt.accel, tt.tsc); got != tt.want {
			t.Errorf("guestCmdline(%q, %s, %d) = %q; want %q", tt.base, tt.accel, tt.tsc, got, tt.want)
		}
	}
}

func TestStatusOf(t *testing.T) {
	for state, want := range map[string]vmm.Status{
		"running":        vmm.StatusRunning,
		"paused":         vmm.StatusPaused,
		"suspended":      vmm.StatusPaused,
		"prelaunch":      vmm.StatusPaused,
		"shutdown":       vmm.StatusStopped,
		"guest-panicked": vmm.StatusStopped,
		"internal-error": vmm.StatusStopped,
		"io-error":       vmm.StatusStopped,
	} {
		if got := statusOf(state); got != want {
			t.Errorf("statusOf(%q) = %q; want %q", state, got, want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		out, want string
		ok        bool
	}{
		{"QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022", "7.2.22", true},
		{"QEMU emulator version 9.1\n", "9.1", true},
		{"something else", "", false},
	}
	for _, tt := range tests {
		got, err := parseVersion([]byte(tt.out))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseVersion(%q) = %q, %v", tt.out, got, err)
		}
	}
}

func TestParseCPUInfoKHz(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.122\ncache size\t: 512 KB\n", 2596122},
		{"cpu MHz : 3000\ncpu MHz : 1200.5\n", 3000000},
		{"processor : 0\nBogoMIPS : 50.00\n", 0},
		{"cpu MHz : fast\n", 0},
	}
	for _, tt := range tests {
		if got := parseCPUInfoKHz([]byte(tt.in)); got != tt.want {
			t.Errorf("parseCPUInfoKHz(%q) = %d; want %d", tt.in, got, tt.want)
		}
	}
}

func TestFDLegend(t *testing.T) {
	files := []inherited{{Path: "/k/vmlinux"}, {Path: "/run/qmp.sock", Listen: true}}
	legend := fdLegend(files)
	if legend != "banger: fd 3 = /k/vmlinux\nbanger: fd 4 = /run/qmp.sock\n" {
		t.Errorf("legend %q", legend)
	}
	if got := string(withoutLegend([]byte(legend + "qemu: could not open kernel\n"))); got != "qemu: could not open kernel\n" {
		t.Errorf("without the legend: %q", got)
	}
}
