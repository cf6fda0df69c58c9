package fctest

import (
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

func (s *Server) action(kind string) answer {
	switch kind {
	case "InstanceStart":
		if s.vm.started() {
			return fault(faultAfterBoot)
		}
		if s.vm.config.Boot == nil {
			return fault("Cannot start microvm without kernel configuration.")
		}
		// Firecracker loads the kernel at InstanceStart, and only an ELF
		// vmlinux on x86_64.
		if !s.isELF(s.vm.config.Boot["kernel_image_path"]) {
			return fault("Start microvm error: Cannot load kernel due to invalid memory configuration or invalid kernel image: Kernel Loader: failed to load ELF kernel image")
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
