package fctest

import (
	"context"
	"io"
	"net"
	"os"
)

// The pre-boot resources: what Firecracker checks when each is configured.

// openTarget configures a log or metrics file. Firecracker opens the path
// without creating it, so it must exist.
func (s *Server) openTarget(body map[string]any, key string, dst *string, cfg *map[string]any, first string) answer {
	p, _ := body[key].(string)
	if p == "" {
		*cfg = body
		return ok()
	}
	f, err := os.OpenFile(s.path(p), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fault("Failed to open target file: %v", unwrapPath(err))
	}
	_, _ = f.WriteString(first)
	_ = f.Close()
	*dst, *cfg = p, body
	return ok()
}

func (s *Server) machineConfig(op string, body map[string]any) answer {
	m := defaultMachine()
	if op == "patchMachineConfiguration" {
		for k, v := range s.vm.config.Machine {
			m[k] = v
		}
	}
	for k, v := range body {
		m[k] = v
	}
	vcpus := m["vcpu_count"].(float64)
	if m["smt"] == true && vcpus > 1 && int(vcpus)%2 == 1 {
		return fault("The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is enabled.")
	}
	if mem := m["mem_size_mib"].(float64); mem < 1 {
		return fault("The memory size (MiB) is either 0, or not a multiple of the configured page size.")
	}
	s.vm.config.Machine = m
	return ok()
}

func (s *Server) bootSource(body map[string]any) answer {
	if err := s.mustOpen(body["kernel_image_path"]); err != nil {
		return fault("The kernel file cannot be opened: %v", err)
	}
	if err := s.mustOpen(body["initrd_path"]); err != nil {
		return fault("The initrd file cannot be opened due to invalid path or invalid permissions. %v", err)
	}
	s.vm.config.Boot = body
	return ok()
}

// isELF reports whether the file at a request's path starts like an ELF.
func (s *Server) isELF(v any) bool {
	p, _ := v.(string)
	f, err := os.Open(s.path(p))
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == "\x7fELF"
}

// FakeKernel is enough of an ELF vmlinux for the fake to accept.
var FakeKernel = []byte("\x7fELF\x02\x01\x01\x00fctest fake vmlinux")

// mustOpen checks that a path from a request (a string, or nil for an
// absent optional field) opens.
func (s *Server) mustOpen(v any) error {
	p, ok := v.(string)
	if !ok {
		return nil
	}
	f, err := os.Open(s.path(p))
	if err != nil {
		return unwrapPath(err)
	}
	return f.Close()
}

func checkID(kind, path string, body map[string]any, key string) *answer {
	if !idRE.MatchString(path) {
		a := fault("Invalid ID: the %s ID %q must be 1 to 64 alphanumeric characters or underscores.", kind, path)
		return &a
	}
	if body[key] != path {
		a := fault("The id from the path [%s] does not match the id from the body [%v]!", path, body[key])
		return &a
	}
	return nil
}

func (s *Server) putDrive(id string, body map[string]any) answer {
	if a := checkID("drive", id, body, "drive_id"); a != nil {
		return *a
	}
	if body["socket"] == nil {
		if body["path_on_host"] == nil || body["is_read_only"] == nil {
			return fault("Unable to create the block device: path_on_host and is_read_only are required for a virtio-block device.")
		}
		if err := s.mustOpen(body["path_on_host"]); err != nil {
			return fault("Unable to create the block device: %v", err)
		}
	}
	if body["is_root_device"] == true {
		for _, d := range s.vm.config.Drives {
			if d["is_root_device"] == true && d["drive_id"] != id {
				return fault("A root block device already exists!")
			}
		}
	}
	s.vm.config.Drives = upsert(s.vm.config.Drives, "drive_id", body)
	return ok()
}

func (s *Server) putNIC(id string, body map[string]any) answer {
	if a := checkID("network interface", id, body, "iface_id"); a != nil {
		return *a
	}
	if mac, ok := body["guest_mac"].(string); ok && !macRE.MatchString(mac) {
		return fault("Invalid MAC address: %q", mac)
	}
	for _, n := range s.vm.config.NICs {
		if n["iface_id"] != id && n["host_dev_name"] == body["host_dev_name"] {
			return fault("The host device name %v is already in use.", body["host_dev_name"])
		}
	}
	s.vm.config.NICs = upsert(s.vm.config.NICs, "iface_id", body)
	return ok()
}

func (s *Server) putVsock(body map[string]any) answer {
	if err := s.bindVsock(body["uds_path"].(string)); err != nil {
		return fault("Cannot create backend for vsock device: %v", err)
	}
	s.vm.config.Vsock = body
	return ok()
}

// bindVsock listens on the vsock device's unix socket, as Firecracker's
// vsock backend does when the device is created. s.mu is held.
func (s *Server) bindVsock(p string) error {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "unix", s.path(p))
	if err != nil {
		return unwrapPath(err)
	}
	if s.vsockL != nil {
		_ = s.vsockL.Close()
	}
	s.vsockL = l
	go func() { _ = ServeMuxer(l, s.opts.Guest) }()
	return nil
}
