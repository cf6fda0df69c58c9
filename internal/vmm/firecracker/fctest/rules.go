package fctest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"time"
)

// Firecracker's answers for requests made in the wrong state.
const (
	faultAfterBoot  = "The requested operation is not supported after starting the microVM."
	faultBeforeBoot = "The requested operation is not supported before starting the microVM."
)

// preBoot are the operations Firecracker rejects once the guest started
// (the swagger's "Pre-boot only", and the resources the runtime API
// controller refuses).
var preBoot = []string{
	"putBalloon", "putGuestBootSource", "putCpuConfiguration", "putGuestDriveByID",
	"putGuestPmemByID", "putLogger", "putMachineConfiguration", "patchMachineConfiguration",
	"putMetrics", "putMmdsConfig", "putEntropyDevice", "putSerialDevice", "putMemoryHotplug",
	"putGuestNetworkInterfaceByID", "putGuestVsock", "loadSnapshot",
}

// postBoot are the operations that need a started guest ("Post-boot only").
var postBoot = []string{
	"patchGuestDriveByID", "patchGuestPmemByID", "patchGuestNetworkInterfaceByID",
	"patchVm", "createSnapshot", "patchBalloon", "patchBalloonStatsInterval",
	"describeBalloonStats", "startBalloonHinting", "stopBalloonHinting",
	"describeBalloonHinting", "patchMemoryHotplug",
}

// bootNeutral may be configured before a snapshot load.
var bootNeutral = []string{"putLogger", "putMetrics"}

// Firecracker's resource ids: alphanumeric and underscores, at most 64.
var idRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

var macRE = regexp.MustCompile(`^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$`)

// vmState is what one Firecracker process knows.
type vmState struct {
	state    string
	restored bool
	// bootRes is set once a resource other than logger/metrics exists,
	// after which a snapshot cannot be loaded.
	bootRes     bool
	metricsPath string
	logPath     string
	// guestUp is set once the guest ran (its services started).
	guestUp bool
	config  fullConfig
}

// fullConfig mirrors FullVmConfiguration, holding the accepted bodies.
type fullConfig struct {
	Boot    map[string]any   `json:"boot-source,omitempty"`
	Machine map[string]any   `json:"machine-config"`
	Drives  []map[string]any `json:"drives,omitempty"`
	NICs    []map[string]any `json:"network-interfaces,omitempty"`
	Vsock   map[string]any   `json:"vsock,omitempty"`
	Entropy json.RawMessage  `json:"entropy,omitempty"` // "{}" must show`
	Logger  map[string]any   `json:"logger,omitempty"`
	Metrics map[string]any   `json:"metrics,omitempty"`
}

func newVMState() vmState {
	return vmState{state: StateNotStarted, config: fullConfig{Machine: defaultMachine()}}
}

func defaultMachine() map[string]any {
	return map[string]any{"vcpu_count": 1.0, "mem_size_mib": 128.0, "smt": false, "track_dirty_pages": false}
}

func (v *vmState) started() bool { return v.state != StateNotStarted }

// dispatch applies Firecracker's rules to a request the contract accepted.
// s.mu is held.
func (s *Server) dispatch(op Operation, raw []byte) answer {
	switch {
	case slices.Contains(preBoot, op.ID) && s.vm.started():
		return fault(faultAfterBoot)
	case slices.Contains(postBoot, op.ID) && !s.vm.started():
		return fault(faultBeforeBoot)
	}
	var body map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return fault("Invalid JSON body: %v", err)
		}
	}
	if slices.Contains(preBoot, op.ID) && !slices.Contains(bootNeutral, op.ID) && op.ID != "loadSnapshot" {
		defer func() { s.vm.bootRes = true }()
	}
	switch op.ID {
	case "describeInstance":
		return answer{status: 200, body: map[string]any{
			"app_name": "Firecracker", "id": s.opts.ID, "state": s.vm.state, "vmm_version": s.c.Version,
		}}
	case "getFirecrackerVersion":
		return answer{status: 200, body: map[string]any{"firecracker_version": s.c.Version}}
	case "getMachineConfiguration":
		return answer{status: 200, body: s.vm.config.Machine}
	case "getExportVmConfig":
		return answer{status: 200, body: s.vm.config}
	case "putLogger":
		return s.openTarget(body, "log_path", &s.vm.logPath, &s.vm.config.Logger, "Running Firecracker v"+s.c.Version+"\n")
	case "putMetrics":
		if s.vm.metricsPath != "" {
			return fault("Reinitialization of metrics not allowed.")
		}
		return s.openTarget(body, "metrics_path", &s.vm.metricsPath, &s.vm.config.Metrics, "")
	case "putMachineConfiguration", "patchMachineConfiguration":
		return s.machineConfig(op.ID, body)
	case "putGuestBootSource":
		return s.bootSource(body)
	case "putGuestDriveByID":
		return s.putDrive(op.Params["drive_id"], body)
	case "putGuestNetworkInterfaceByID":
		return s.putNIC(op.Params["iface_id"], body)
	case "putGuestVsock":
		return s.putVsock(body)
	case "putEntropyDevice":
		s.vm.config.Entropy = json.RawMessage(raw)
		return ok()
	case "createSyncAction":
		return s.action(body["action_type"].(string))
	case "patchVm":
		if body["state"] == "Paused" {
			s.vm.state = StatePaused
			return ok()
		}
		s.vm.state = StateRunning
		a := ok()
		if !s.vm.guestUp { // a snapshot loaded paused runs from here
			s.vm.guestUp = true
			a.after = s.booted
		}
		return a
	case "createSnapshot":
		return s.createSnapshot(body)
	case "loadSnapshot":
		return s.loadSnapshot(body)
	case "patchGuestDriveByID":
		return s.patchByID(s.vm.config.Drives, "drive_id", op.Params["drive_id"], body)
	case "patchGuestNetworkInterfaceByID":
		return s.patchByID(s.vm.config.NICs, "iface_id", op.Params["iface_id"], body)
	}
	if op.ID[:3] == "put" || op.ID[:5] == "patch" {
		return ok() // accepted and ignored: devices the fake has no model of
	}
	return fault("fctest: %s is not emulated", op.ID)
}

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

func (s *Server) action(kind string) answer {
	switch kind {
	case "InstanceStart":
		if s.vm.started() {
			return fault(faultAfterBoot)
		}
		if s.vm.config.Boot == nil {
			return fault("Cannot start microvm without kernel configuration.")
		}
		s.vm.state = StateRunning
		s.vm.guestUp = true
		a := ok()
		a.after = s.booted
		return a
	case "SendCtrlAltDel":
		if !s.vm.started() {
			return fault(faultBeforeBoot)
		}
		a := ok()
		a.after = func() {
			_, _ = fmt.Fprintln(s.opts.Console, "reboot: Restarting system")
			if s.opts.OnExit != nil {
				s.opts.OnExit(0)
			}
		}
		return a
	default: // FlushMetrics
		if s.vm.metricsPath == "" {
			return fault("The metrics system is not initialized.")
		}
		f, err := os.OpenFile(s.path(s.vm.metricsPath), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fault("Failed to write metrics: %v", unwrapPath(err))
		}
		defer func() { _ = f.Close() }()
		_, _ = fmt.Fprintf(f, "{\"utc_timestamp_ms\":%d}\n", time.Now().UnixMilli())
		return ok()
	}
}

// booted prints what a guest kernel would and starts the guest's services.
func (s *Server) booted() {
	_, _ = fmt.Fprintf(s.opts.Console, "[    0.000000] Linux version 6.1.0-fctest (fake guest of %s)\n", s.opts.ID)
	if s.opts.OnStart != nil {
		s.opts.OnStart()
	}
}

func (s *Server) patchByID(list []map[string]any, key, id string, body map[string]any) answer {
	for _, item := range list {
		if item[key] == id {
			if err := s.mustOpen(body["path_on_host"]); err != nil {
				return fault("Unable to patch the block device: %v", err)
			}
			for k, v := range body {
				item[k] = v
			}
			return ok()
		}
	}
	return fault("Invalid ID: %s %q not found.", key, id)
}

func upsert(list []map[string]any, key string, body map[string]any) []map[string]any {
	for i, item := range list {
		if item[key] == body[key] {
			list[i] = body
			return list
		}
	}
	return append(list, body)
}

// unwrapPath drops Go's "open <path>:" prefix, which would show the
// fake's jail-resolved path rather than the one the client sent.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return unwrapPath(oe.Err)
	}
	return err
}
