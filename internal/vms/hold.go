package vms

import (
	"fmt"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/snapshots"
)

// SnapshotStore is the boot snapshot store (a *snapshots.Store).
type SnapshotStore interface {
	// Lookup returns the verified snapshot of k; a damaged one is
	// removed and missed, and the error says so.
	Lookup(k snapshots.Key) (snapshots.Snapshot, bool, error)
	// Prepare names a new snapshot's temporary directory, which the
	// caller records before it creates it.
	Prepare(k snapshots.Key, o snapshots.Origin) (*snapshots.Pending, error)
	// Discard removes a temporary directory a record names.
	Discard(dir string) error
	// Remove deletes a snapshot by id.
	Remove(ref string) (snapshots.Snapshot, error)
	// Get finds a snapshot by id, prefix or (a checkpoint's) name, and
	// List lists them; neither hashes anything (Lookup does).
	Get(ref string) (snapshots.Snapshot, error)
	List() ([]snapshots.Snapshot, error)
}

// memoryFileName is guest RAM's file in the runtime directory of a VM
// that boots held on a backend that keeps RAM apart in a snapshot
// (vmm.Capabilities.MemoryFile).
const memoryFileName = "memory"

// bootHold is how an eligible VM boots *held* (docs/architecture.md,
// "Boot snapshots"): its config drive carries only what every VM of its
// snapshot shares and a throwaway host key; the agent serves its
// channels and nothing else until the identity stage applies the VM's
// own config. Cold boots and restores both reach the hold; a cold one
// is then saved.
type bootHold struct {
	key snapshots.Key
	// holdKey is this start's throwaway agent host key: the held drive's,
	// saved with the snapshot a cold boot makes.
	holdKey agentclient.Key
	// full is the VM's own config, which the identity stage applies.
	full bootcfg.Config
	// snap is the snapshot the vmm stage restores, and snapKey the host
	// key its saved agent serves; nil is a cold boot.
	snap    *snapshots.Snapshot
	snapKey ssh.PublicKey
	// restored says the vmm stage restored snap; saved names the
	// snapshot the save stage made.
	restored bool
	saved    string
}

// pin is the host key of the held agent: the snapshot's once restored,
// else this start's hold key.
func (h *bootHold) pin() ssh.PublicKey {
	if h.restored {
		return h.snapKey
	}
	return h.holdKey.PublicKey()
}

// heldConfig is the held drive's config: the VM id, the hold key, the
// daemon's client key, the channels, a seed of its own, the stop grace
// and exit wait. Nothing else of the VM (bootcfg.Config.Hold).
func (h *bootHold) heldConfig() (bootcfg.Config, error) {
	seed, err := bootcfg.NewEntropySeed()
	if err != nil {
		return bootcfg.Config{}, err
	}
	f := h.full
	c := bootcfg.Config{
		VMID:        f.VMID,
		SSH:         bootcfg.SSH{HostKey: string(h.holdKey.PEM), AuthorizedKeys: f.SSH.AuthorizedKeys},
		Channels:    f.Channels,
		EntropySeed: seed,
		StopGraceMS: f.StopGraceMS,
		ExitWaitMS:  f.ExitWaitMS,
		Hold:        true,
	}
	return c, c.Validate()
}

// boot is what the VM's record says of this start.
func (h *bootHold) boot() Boot {
	switch {
	case h == nil:
		return Boot{Mode: BootCold}
	case h.restored:
		return Boot{Mode: BootRestored, Snapshot: h.snap.ID}
	}
	return Boot{Mode: BootCold, Saved: h.saved}
}

// mayHold says whether a VM of spec can ever boot held: the daemon has a
// snapshot store, and the VM was created neither --cold nor --init (the
// image's init cannot be held). Its pipeline then has the save and
// identity stages; whether a start holds is planHold's call.
func (s *Service) mayHold(spec Spec) bool {
	return s.Snapshots != nil && !spec.Cold && !spec.Init
}

// planHold decides, in the boot config stage, whether the VM starting in
// rt boots held, and how: snapshot.boot is on, the VM may hold, its disk
// was made in this start (still the image's), and its
// machine has a boot snapshot key (bootKey: a backend that can save, no
// shared directory). rt.Boot is then the held machine (the command line
// says ro; RAM in a file where snapshots keep it apart), and a snapshot
// of its key, when the store has one, is what the vmm stage restores.
// It returns nil for a VM that boots as always.
func (s *Service) planHold(rt *Runtime, full bootcfg.Config) (*bootHold, error) {
	if !s.SnapshotBoot || !s.mayHold(rt.VM.Spec) {
		return nil, nil
	}
	if !rt.freshDisk {
		// A disk an earlier run wrote is not the image's: a snapshot's
		// guest (its page cache, its file system's state) would not fit
		// it, and a save from it would not fit the next VM's fresh one.
		return nil, nil
	}
	caps := rt.caps()
	spec := rt.Boot
	spec.Cmdline = kernelCmdline(caps, true)
	if caps.MemoryFile {
		spec.MemoryFile = filepath.Join(spec.RuntimeDir, memoryFileName)
	}
	key, err := bootKey(rt, spec, s.ClientKey)
	if err != nil {
		s.Log.Debug("the vm boots without boot snapshots", "vm", rt.VM.ID, "reason", err)
		return nil, nil //nolint:nilerr // a VM without a key boots as always
	}
	holdKey, err := agentclient.NewHostKey()
	if err != nil {
		return nil, fmt.Errorf("hold key: %w", err)
	}
	rt.Boot = spec
	h := &bootHold{key: key, holdKey: holdKey, full: full}
	if rt.noRestore {
		return h, nil
	}
	sn, ok, err := s.Snapshots.Lookup(key)
	if err != nil {
		rt.warn(s.Log, "%v; booting cold", err)
	}
	if ok {
		if h.snapKey, err = snapshotHostKey(sn); err != nil {
			rt.warn(s.Log, "boot snapshot %s has no usable host key (%v): removing it and booting cold", sn.ID, err)
			s.removeSnapshot(sn.ID)
			return h, nil
		}
		h.snap = &sn
	}
	return h, nil
}

// snapshotHostKey is the host key of a snapshot's saved agent.
func snapshotHostKey(sn snapshots.Snapshot) (ssh.PublicKey, error) {
	b, err := sn.ReadFile(snapshots.HostKeyFile)
	if err != nil {
		return nil, err
	}
	return agentclient.ParsePublicKey(string(b))
}

// removeSnapshot removes a boot snapshot that cannot be used; a failure
// is only logged (the next lookup finds it again, and fails the same).
func (s *Service) removeSnapshot(id string) {
	if _, err := s.Snapshots.Remove(id); err != nil {
		s.Log.Warn("cannot remove an unusable boot snapshot", "snapshot", id, "error", err)
	}
}
