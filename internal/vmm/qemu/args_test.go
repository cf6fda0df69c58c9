package qemu

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/vmm"
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

// common is the part of every command line before the drives and NICs.
func common(accel, cpu, cmdline string) []string {
	return []string{
		"-name", "guest=banger-vm1",
		"-M", "microvm,acpi=on,rtc=on,isa-serial=on",
		"-accel", accel, "-cpu", cpu, "-smp", "2", "-m", "512",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", "/k/bzImage", "-initrd", "/k/initrd",
		"-append", cmdline,
		"-chardev", "file,id=console,path=/var/lib/banger/vms/vm1/console.log,append=on",
		"-serial", "chardev:console",
		"-qmp", "unix:/run/banger/vms/vm1/qmp.sock,server=on,wait=off",
		"-object", "rng-random,id=rng0,filename=/dev/urandom",
		"-device", "virtio-rng-device,rng=rng0",
		"-device", "virtio-serial-device,id=vser0",
		"-chardev", "socket,id=agent,path=/run/banger/vms/vm1/agent.sock,server=on,wait=off",
		"-device", "virtserialport,bus=vser0.0,chardev=agent,name=banger.agent",
	}
}

func TestCommandLine(t *testing.T) {
	tcgCmdline := "root=/dev/vda rw console=ttyS0 reboot=t panic=-1 tsc_early_khz=2596122"
	tests := []struct {
		name  string
		edit  func(*vmm.Spec)
		accel string
		want  []string
	}{
		{
			name:  "tcg, no drives",
			accel: AccelTCG,
			want:  common("tcg", "max", tcgCmdline),
		},
		{
			name:  "kvm: host cpu, no tsc rate",
			accel: AccelKVM,
			want:  common("kvm", "host", "root=/dev/vda rw console=ttyS0 reboot=t panic=-1"),
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
				"-drive", "id=disk0,if=none,file=/d/root.ext4,format=raw,discard=unmap",
				"-device", "virtio-blk-device,drive=disk0",
				"-drive", "id=disk1,if=none,file=/d/data.qcow2,format=qcow2,readonly=on",
				"-device", "virtio-blk-device,drive=disk1",
				"-netdev", "tap,id=net0,ifname=bg-1234abcd,script=no,downscript=no",
				"-device", "virtio-net-device,netdev=net0,mac=02:00:00:00:00:01,host_mtu=1400",
			),
		},
		{
			name:  "commas in paths are doubled inside option lists",
			accel: AccelTCG,
			edit: func(s *vmm.Spec) {
				s.Drives = []vmm.Drive{{Path: "/d/a,b.ext4", Root: true}}
			},
			want: append(common("tcg", "max", tcgCmdline),
				"-drive", "id=disk0,if=none,file=/d/a,,b.ext4,format=raw,discard=unmap",
				"-device", "virtio-blk-device,drive=disk0",
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			if tt.edit != nil {
				tt.edit(&s)
			}
			got, err := commandLine(launch{spec: s, accel: tt.accel, tscKHz: 2596122})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("argv:\n got %q\nwant %q", got, tt.want)
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
	got, err := commandLine(launch{spec: s, accel: AccelTCG})
	if err != nil {
		t.Fatal(err)
	}
	want := common("tcg", "max", "root=/dev/vda rw console=ttyS0 reboot=t panic=-1")
	want[slices.Index(want, "-M")+1] = "microvm,acpi=on,rtc=on,isa-serial=on,memory-backend=mem"
	want = append(want,
		"-object", "memory-backend-memfd,id=mem,size=512M,share=on",
		"-global", "virtio-mmio.force-legacy=false",
		"-chardev", "socket,id=fs0,path=/run/banger/vms/vm1/fs0.sock",
		"-device", "vhost-user-fs-device,chardev=fs0,tag=v0",
		"-chardev", "socket,id=fs1,path=/run/x,,y.sock",
		"-device", "vhost-user-fs-device,chardev=fs1,tag=v,,1",
	)
	if !slices.Equal(got, want) {
		t.Errorf("argv:\n got %q\nwant %q", got, want)
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
	got, err := commandLine(launch{spec: s, accel: AccelKVM})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.Index(got, "-kernel")
	if i < 0 || got[i+1] != "/k/vmlinux" || slices.Contains(got, "-initrd") {
		t.Fatalf("want -kernel /k/vmlinux and no -initrd, got %q", got)
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
			_, err := commandLine(launch{spec: s, accel: tt.accel})
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

func TestVMMEnv(t *testing.T) {
	got := vmmEnv([]string{"PATH=/bin", "BANGER_VM=stale", "HOME=/root"}, "vm1")
	want := []string{"PATH=/bin", "HOME=/root", "BANGER_VM=vm1"}
	if !slices.Equal(got, want) {
		t.Fatalf("vmmEnv = %q; want %q", got, want)
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
