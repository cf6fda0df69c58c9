package kvm

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Check with the calls replaced: each step's failure is reported with the
// device's path, and a missing node stays recognisable.
func TestCheck(t *testing.T) {
	dev := func(v int, openErr, createErr error) Device {
		return Device{
			Path:       "/dev/kvm",
			APIVersion: func(string) (int, error) { return v, openErr },
			CreateVM:   func(string) error { return createErr },
		}
	}
	missing := &fs.PathError{Op: "open", Path: "/dev/kvm", Err: fs.ErrNotExist}
	tests := []struct {
		name     string
		d        Device
		want     string
		notExist bool
	}{
		{"works", dev(12, nil, nil), "", false},
		{"no device", dev(0, missing, nil), "open /dev/kvm: file does not exist", true},
		{"old api", dev(11, nil, nil), "/dev/kvm reports KVM API version 11, want 12", false},
		{"create fails", dev(12, nil, errors.New("EPERM")), "/dev/kvm cannot create a VM: EPERM", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d.Check()
			if got := errString(err); got != tt.want || errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Fatalf("Check = %v; want %q (not exist: %v)", err, tt.want, tt.notExist)
			}
		})
	}
}

// The real calls tell a missing node and a character device that is not
// KVM's from a KVM device, on any host and without root.
func TestCheckRealDevices(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("KVM is Linux-only")
	}
	node := func(path string) Device { d := Host(); d.Path = path; return d }
	if err := node(filepath.Join(t.TempDir(), "kvm")).Check(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing node: Check = %v; want not exist", err)
	}
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	if err := node("/dev/null").Check(); err == nil || !strings.Contains(err.Error(), "/dev/null is not a KVM device (KVM_GET_API_VERSION: ") {
		t.Errorf("/dev/null: Check = %v; want not a KVM device", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
