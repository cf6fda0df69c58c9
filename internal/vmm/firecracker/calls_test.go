package firecracker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/firecracker/fctest"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestBootArgs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"},
		{"root=/dev/vda console=hvc0 panic=5", "root=/dev/vda console=hvc0 panic=5 reboot=k pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"},
		{"root=/dev/vda -- --entry /bin/sh -c 'x -- y'", "root=/dev/vda console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd -- --entry /bin/sh -c 'x -- y'"},
		{"  quiet  ", "quiet console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"},
	}
	for _, tt := range tests {
		if got := bootArgs(tt.in); got != tt.want {
			t.Errorf("bootArgs(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func sampleSpec() vmm.Spec {
	return vmm.Spec{
		ID: "vm-1", RuntimeDir: "/run/banger/vms/vm-1",
		Kernel:  vmm.Kernel{Vmlinux: "/k/vmlinux", Initrd: "/k/initrd"},
		Cmdline: "root=/dev/vda", CPUs: 2, MemoryMiB: 512,
		Drives: []vmm.Drive{
			{ID: "scratch-1", Path: "/d/scratch.img"},
			{Path: "/d/rootfs.ext4", Root: true},
			{ID: "ro", Path: "/d/ro.img", ReadOnly: true},
		},
		NICs: []vmm.NIC{{Tap: "bg-vm1", MAC: "02:00:00:00:00:01", MTU: 1400}},
	}
}

func samplePaths() vmPaths {
	return vmPaths{
		Kernel: "/k/vmlinux", Initrd: "/k/initrd", Log: "/r/firecracker.log", Metrics: "/r/firecracker.metrics",
		Vsock: "/r/vsock.sock", Drives: []string{"/d/scratch.img", "/d/rootfs.ext4", "/d/ro.img"},
	}
}

// The configuration of a VM, as values.
func TestBootCalls(t *testing.T) {
	got := bootCalls(sampleSpec(), samplePaths(), false)
	want := []Call{
		{http.MethodPut, "/logger", Logger{LogPath: "/r/firecracker.log", Level: "Info", ShowLevel: true}},
		{http.MethodPut, "/metrics", Metrics{MetricsPath: "/r/firecracker.metrics"}},
		{http.MethodPut, "/machine-config", MachineConfig{VCPUCount: 2, MemSizeMiB: 512}},
		{http.MethodPut, "/boot-source", BootSource{KernelImagePath: "/k/vmlinux", InitrdPath: "/k/initrd", BootArgs: bootArgs("root=/dev/vda")}},
		{http.MethodPut, "/drives/rootfs", Drive{DriveID: "rootfs", PathOnHost: "/d/rootfs.ext4", IsRootDevice: true}},
		{http.MethodPut, "/drives/scratch_1", Drive{DriveID: "scratch_1", PathOnHost: "/d/scratch.img"}},
		{http.MethodPut, "/drives/ro", Drive{DriveID: "ro", PathOnHost: "/d/ro.img", IsReadOnly: true}},
		{http.MethodPut, "/network-interfaces/eth0", NetworkInterface{IfaceID: "eth0", HostDevName: "bg-vm1", GuestMAC: "02:00:00:00:00:01", MTU: 1400}},
		{http.MethodPut, "/vsock", Vsock{GuestCID: 3, UDSPath: "/r/vsock.sock"}},
		{http.MethodPut, "/entropy", EntropyDevice{}},
		{http.MethodPut, "/actions", InstanceActionInfo{ActionType: "InstanceStart"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("bootCalls:\n got %+v\nwant %+v", got, want)
	}
}

// Every request the backend can send is valid against the v1.16.1 spec,
// parsed now — so a renamed field or a new required one fails here.
func TestCallsMatchContract(t *testing.T) {
	c := fctest.LoadSpec(t)
	spec, paths := sampleSpec(), samplePaths()
	var calls []Call
	calls = append(calls, bootCalls(spec, paths, true)...)
	calls = append(calls, restoreCalls(spec, paths, "/s/state", "/s/mem", true, true)...)
	spec.NICs, spec.Kernel.Initrd = nil, ""
	paths.Initrd = ""
	calls = append(calls, bootCalls(spec, paths, false)...)
	calls = append(calls,
		Call{http.MethodPatch, "/vm", VM{State: VMPaused}},
		Call{http.MethodPatch, "/vm", VM{State: VMResumed}},
		Call{http.MethodPut, "/actions", InstanceActionInfo{ActionType: ActionSendCtrlAltDel}},
		Call{http.MethodPut, "/snapshot/create", SnapshotCreateParams{SnapshotType: "Diff", SnapshotPath: "/s", MemFilePath: "/m"}},
		Call{http.MethodPut, "/snapshot/create", SnapshotCreateParams{SnapshotPath: "/s", MemFilePath: "/m"}},
		Call{Method: http.MethodGet, Path: "/"},
	)
	for _, call := range calls {
		var body []byte
		if call.Body != nil {
			body, _ = json.Marshal(call.Body)
		}
		if _, err := c.Validate(context.Background(), call.Method, call.Path, body); err != nil {
			t.Errorf("%s %s: %v", call, body, err)
		}
	}
	// And the contract does catch a drift: a field the spec lacks.
	bad, _ := json.Marshal(map[string]any{"drive_id": "x", "is_root_device": true, "read_only": true})
	if _, err := c.Validate(context.Background(), "PUT", "/drives/x", bad); err == nil || !strings.Contains(err.Error(), "read_only") {
		t.Fatalf("an unknown field passed the contract: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := sampleSpec()
	tests := []struct {
		name   string
		change func(*vmm.Spec)
		want   string
	}{
		{"ok", func(*vmm.Spec) {}, ""},
		{"bad id", func(s *vmm.Spec) { s.ID = "a/b" }, "id of 1 to 64"},
		{"long id", func(s *vmm.Spec) { s.ID = strings.Repeat("a", 65) }, "id of 1 to 64"},
		{"no vmlinux", func(s *vmm.Spec) { s.Kernel.Vmlinux = "" }, "vmlinux"},
		{"too many cpus", func(s *vmm.Spec) { s.CPUs = 33 }, "1 to 32"},
		{"no memory", func(s *vmm.Spec) { s.MemoryMiB = 0 }, "memory"},
		{"qcow2", func(s *vmm.Spec) { s.Drives[0].Format = "qcow2" }, "raw images only"},
		{"two roots", func(s *vmm.Spec) { s.Drives[0].Root = true }, "2 root drives"},
		{"same id", func(s *vmm.Spec) { s.Drives[2].ID = "scratch_1" }, "two drives have the id scratch_1"},
		{"shared dir", func(s *vmm.Spec) { s.SharedDirs = []vmm.SharedDir{{Tag: "v0", Socket: "/s"}} }, "no virtio-fs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			s.Drives = append([]vmm.Drive(nil), ok.Drives...)
			tt.change(&s)
			err := validate(s)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("validate = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

// A NIC in another network namespace is refused as unsupported, naming
// the backend that can: Capabilities.Netns is false here.
func TestValidateNetns(t *testing.T) {
	s := sampleSpec()
	s.NICs = []vmm.NIC{{ID: "eth0", Tap: "bg-x", Netns: "/var/run/netns/pod"}}
	err := validate(s)
	if err == nil || !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "/var/run/netns/pod; use --vmm qemu") {
		t.Fatalf("validate = %v", err)
	}
	if New(config.Firecracker{}).Capabilities().Netns {
		t.Error("firecracker claims Capabilities.Netns")
	}
}

// Every error carries the endpoint and Firecracker's fault message.
func TestAPIErrorFromServer(t *testing.T) {
	_, sock := fctest.Listen(t, fctest.Options{ID: "err-1"})
	c := NewClient(sock)
	defer c.Close()
	ctx := context.Background()
	err := c.Do(ctx, Call{http.MethodPut, "/actions", InstanceActionInfo{ActionType: ActionInstanceStart}}, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Method != "PUT" || ae.Path != "/actions" || ae.Fault != "Cannot start microvm without kernel configuration." {
		t.Fatalf("err = %#v", err)
	}
	if want := "firecracker PUT /actions: Cannot start microvm without kernel configuration. (HTTP 400)"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	info, err := c.Info(ctx)
	if err != nil || info.ID != "err-1" || info.State != StateNotStarted || info.AppName != "Firecracker" {
		t.Fatalf("Info = %+v, %v", info, err)
	}
}

func TestParseFault(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"fault_message":"The kernel file cannot be opened"}`, "The kernel file cannot be opened"},
		{`{"fault_message":""}`, `{"fault_message":""}`},
		{"", "no fault message"},
		{"  plain text\n", "plain text"},
		{"\xff\xfe", "\uFFFD"},
		{strings.Repeat("x", 600), strings.Repeat("x", 512) + "…"},
	}
	for _, tt := range tests {
		if got := ParseFault([]byte(tt.in)); got != tt.want {
			t.Errorf("ParseFault(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
