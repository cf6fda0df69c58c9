package fctest

import (
	"encoding/json"
	"os"
)

// snapshotFile is what the fake writes as a snapshot's state file: the
// configuration a real snapshot would restore.
type snapshotFile struct {
	Fctest  string     `json:"fctest_snapshot"`
	Config  fullConfig `json:"config"`
	Created string     `json:"created_from"`
}

func (s *Server) createSnapshot(body map[string]any) answer {
	if s.vm.state != StatePaused {
		return fault("Cannot create snapshot: the microVM is not paused (state %s); pause it with PATCH /vm first.", s.vm.state)
	}
	if body["snapshot_type"] == "Diff" && s.vm.config.Machine["track_dirty_pages"] != true {
		return fault("Diff snapshots are not allowed on uVMs with dirty page tracking disabled.")
	}
	state, _ := json.Marshal(snapshotFile{Fctest: s.c.Version, Config: s.vm.config, Created: s.opts.ID})
	if err := os.WriteFile(s.path(body["snapshot_path"].(string)), state, 0o600); err != nil {
		return fault("Cannot save the microVM state: %v", unwrapPath(err))
	}
	mem, err := os.OpenFile(s.path(body["mem_file_path"].(string)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fault("Cannot create the memory file: %v", unwrapPath(err))
	}
	defer func() { _ = mem.Close() }()
	if body["snapshot_type"] != "Diff" {
		size := int64(s.vm.config.Machine["mem_size_mib"].(float64)) << 20
		if err := mem.Truncate(size); err != nil {
			return fault("Cannot write the memory file: %v", err)
		}
	}
	return ok()
}

func (s *Server) loadSnapshot(body map[string]any) answer {
	if s.vm.bootRes {
		return fault("Loading a microVM snapshot not allowed after configuring boot-specific resources.")
	}
	memFile, hasFile := body["mem_file_path"].(string)
	backend, hasBackend := body["mem_backend"].(map[string]any)
	switch {
	case hasFile == hasBackend:
		return fault("Load snapshot error: exactly one of mem_file_path and mem_backend must be given.")
	case hasBackend && backend["backend_type"] != "File":
		return fault("fctest: memory backend %v is not emulated", backend["backend_type"])
	case hasBackend:
		memFile = backend["backend_path"].(string)
	}
	if err := s.mustOpen(memFile); err != nil {
		return fault("Load snapshot error: cannot open the memory file: %v", err)
	}
	raw, err := os.ReadFile(s.path(body["snapshot_path"].(string)))
	if err != nil {
		return fault("Load snapshot error: cannot open the snapshot file: %v", unwrapPath(err))
	}
	var snap snapshotFile
	if err := json.Unmarshal(raw, &snap); err != nil || snap.Fctest == "" {
		return fault("Load snapshot error: the snapshot file is not a microVM state file.")
	}
	cfg := snap.Config
	if ov, ok := body["network_overrides"].([]any); ok {
		for _, o := range ov {
			o := o.(map[string]any)
			if !setWhere(cfg.NICs, "iface_id", o["iface_id"], "host_dev_name", o["host_dev_name"]) {
				return fault("Load snapshot error: network override for unknown interface %v.", o["iface_id"])
			}
		}
	}
	if ov, ok := body["vsock_override"].(map[string]any); ok {
		if cfg.Vsock == nil {
			return fault("Load snapshot error: vsock override given but the snapshot has no vsock device.")
		}
		cfg.Vsock["uds_path"] = ov["uds_path"]
	}
	if cfg.Vsock != nil {
		if err := s.bindVsock(cfg.Vsock["uds_path"].(string)); err != nil {
			return fault("Load snapshot error: cannot create the vsock backend: %v", err)
		}
	}
	cfg.Logger, cfg.Metrics = s.vm.config.Logger, s.vm.config.Metrics
	if track, ok := body["track_dirty_pages"].(bool); ok {
		cfg.Machine["track_dirty_pages"] = track
	}
	s.vm.config, s.vm.restored, s.vm.state = cfg, true, StatePaused
	if body["resume_vm"] == true {
		s.vm.state, s.vm.guestUp = StateRunning, true
		a := ok()
		a.after = s.booted
		return a
	}
	return ok()
}

func setWhere(list []map[string]any, key string, want any, field string, v any) bool {
	for _, item := range list {
		if item[key] == want {
			item[field] = v
			return true
		}
	}
	return false
}
