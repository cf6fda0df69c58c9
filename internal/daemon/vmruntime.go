package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/vmm"
)

// consoleLog is where a VM's serial console goes (kept across stops).
func (d *Daemon) consoleLog(id string) string {
	return filepath.Join(d.layout.VM(id), "console.log")
}

// consoleTail returns the last n non-empty lines of a console log.
func consoleTail(path string, n int) []string {
	return lastN(consoleLines(path), n)
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// consoleLines returns the non-empty lines of the end (64 KiB) of a
// console log.
func consoleLines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	// Only the end matters; a long-running VM's log can be large.
	if fi, err := f.Stat(); err == nil && fi.Size() > 64<<10 {
		_, _ = f.Seek(fi.Size()-64<<10, 0)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// handlesOf decodes the handles mirrored on a VM record.
func handlesOf(rt api.VMRuntime) handles.File {
	var f handles.File
	if len(rt.Handles) > 0 {
		_ = json.Unmarshal(rt.Handles, &f)
	}
	return f
}

// runtimeFrom derives VM.Runtime's flat fields (what inspect shows) from
// the handles.
func runtimeFrom(f handles.File, prev api.VMRuntime) api.VMRuntime {
	rt := api.VMRuntime{DiskPath: prev.DiskPath, DiskStrategy: prev.DiskStrategy, IP: prev.IP, MAC: prev.MAC}
	for _, r := range f.Resources {
		switch r.Kind {
		case handles.VMM:
			var h vmm.Handles
			if json.Unmarshal(r.Data, &h) == nil {
				rt.VMM, rt.Accel = h.Backend, h.Accel
				rt.PID, rt.StartTime, rt.BootID = h.Process.PID, h.Process.StartTime, h.Process.BootID
			}
		case handles.RuntimeDir:
			rt.RuntimeDir = r.Name
		case handles.Disk:
			var dd rootfs.Disk
			if json.Unmarshal(r.Data, &dd) == nil && dd.Strategy != "" {
				rt.DiskStrategy = dd.Strategy
			}
			rt.DiskPath = r.Name
		case handles.Tap:
			rt.Tap = r.Name
		case handles.Lease:
			var res hostnet.Resources
			if json.Unmarshal(r.Data, &res) == nil {
				rt.IP, rt.MAC = res.IP, res.MAC
			}
		case handles.Loop:
			rt.Loops = append(rt.Loops, r.Name)
		case handles.DM:
			rt.DMNames = append(rt.DMNames, r.Name)
		}
	}
	return rt
}

// keepPersistent drops what dies with a stop from a VM's runtime record.
func keepPersistent(rt api.VMRuntime) api.VMRuntime {
	f := handlesOf(rt)
	f.Resources = slices.DeleteFunc(f.Resources, func(r handles.Resource) bool { return r.Scope == handles.Runtime })
	out := runtimeFrom(f, api.VMRuntime{DiskPath: rt.DiskPath, DiskStrategy: rt.DiskStrategy, IP: rt.IP, MAC: rt.MAC})
	if len(f.Resources) > 0 {
		out.Handles, _ = json.Marshal(f)
	}
	return out
}

// recordNetwork records, before hostnet creates them, the tap and the nft
// rules the VM is about to hold, and its (persistent) lease.
func recordNetwork(rec *handles.Recorder, id string, r hostnet.Resources) error {
	if err := rec.Created(handles.Lease, id, handles.Persistent, r); err != nil {
		return err
	}
	if r.Tap != "" {
		if err := rec.Creating(handles.Tap, r.Tap, handles.Runtime, nil); err != nil {
			return err
		}
	}
	if r.Marker != "" {
		return rec.Creating(handles.NftRules, r.Marker, handles.Runtime, r)
	}
	return nil
}

func recordNetworkCreated(rec *handles.Recorder, id string, r hostnet.Resources) error {
	if err := rec.Created(handles.Lease, id, handles.Persistent, r); err != nil {
		return err
	}
	if err := rec.Created(handles.Tap, r.Tap, handles.Runtime, nil); err != nil {
		return err
	}
	return rec.Created(handles.NftRules, r.Marker, handles.Runtime, r)
}

// releaseRuntime releases everything a VM holds only while it runs: the
// VMM process, its tap and rules, device-mapper targets and loops, the
// runtime directory. lv (may be nil) gives the live machine when there is
// one. Each resource leaves the record only once it is gone; the first
// errors are returned and the rest stays recorded for the next attempt.
func (d *Daemon) releaseRuntime(ctx context.Context, id string, rec *handles.Recorder, lv *liveVM) error {
	var errs []error
	var rtDir string
	res := rec.Snapshot().Resources
	// Release in reverse creation order: the VMM before its tap, the
	// network before the disk it never touches, the directory last.
	for i := len(res) - 1; i >= 0; i-- {
		r := res[i]
		if r.Scope != handles.Runtime {
			continue
		}
		if r.Kind == handles.RuntimeDir {
			rtDir = r.Name
			continue
		}
		if err := d.releaseOne(ctx, id, r, lv); err != nil {
			errs = append(errs, fmt.Errorf("release %s %s: %w", r.Kind, r.Name, err))
			continue
		}
		if err := rec.Released(r.Kind, r.Name); err != nil {
			errs = append(errs, err)
		}
	}
	// Processes that carry the VM's id but were never recorded (a daemon
	// killed between exec and record) go too.
	if pids, err := proc.FindByEnv(vmm.EnvVMID, id); err == nil {
		for _, pid := range pids {
			if ident, err := proc.Lookup(pid); err == nil {
				d.log.Warn("killing an unrecorded VMM process of the VM", "vm", id, "pid", pid)
				_ = ident.Kill(5 * time.Second)
			}
		}
	}
	if len(errs) == 0 {
		if rtDir == "" {
			rtDir = d.layout.VMRuntime(id)
		}
		if err := rec.Released(handles.RuntimeDir, rtDir); err != nil {
			errs = append(errs, err)
		} else if err := d.removeRuntimeDir(id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// releaseOne releases one resource.
func (d *Daemon) releaseOne(ctx context.Context, id string, r handles.Resource, lv *liveVM) error {
	switch r.Kind {
	case handles.VMM:
		if lv != nil {
			lv.closeAgent()
			kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := lv.machine.Kill(kctx); err != nil {
				return err
			}
			return lv.machine.Cleanup()
		}
		var h vmm.Handles
		if len(r.Data) > 0 && json.Unmarshal(r.Data, &h) == nil && h.Process.Alive() {
			if err := h.Process.Kill(10 * time.Second); err != nil {
				return err
			}
		}
		if h.JailDir != "" {
			return d.removeJail(h.JailDir)
		}
		return nil
	case handles.Tap, handles.NftRules:
		if d.net == nil {
			return fmt.Errorf("host networking unavailable: %w", d.netErr)
		}
		return d.net.Detach(ctx, id)
	case handles.DM, handles.Loop:
		return d.disks.releaseRuntime(ctx, id)
	default:
		return nil
	}
}

// removeRuntimeDir removes a VM's runtime directory, refusing any path the
// layout did not produce.
func (d *Daemon) removeRuntimeDir(id string) error {
	if !isHex(id) {
		return fmt.Errorf("refusing to remove the runtime dir of vm id %q", id)
	}
	return os.RemoveAll(d.layout.VMRuntime(id))
}

// removeJail removes a Firecracker jail chroot, only under the configured
// chroot base.
func (d *Daemon) removeJail(dir string) error {
	base := filepath.Clean(d.cfg.Firecracker.ChrootBase) + string(filepath.Separator)
	if !strings.HasPrefix(filepath.Clean(dir)+string(filepath.Separator), base) || filepath.Clean(dir)+string(filepath.Separator) == base {
		return fmt.Errorf("jail dir %s is not under firecracker.chroot_base %s; not removing it", dir, base)
	}
	return os.RemoveAll(dir)
}
