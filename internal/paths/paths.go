// Package paths owns every file system location banger touches.
//
// Nothing else in banger builds a path from scratch: the daemon's state,
// runtime and cache directories, every per-image, per-kernel and per-VM
// location, and the globs the leak sweep uses all come from a Layout. That is
// what lets `banger daemon --root DIR` move everything at once, and what lets
// the inventory find every file banger could have created.
//
// The system daemon's defaults follow the FHS (/var/lib/banger,
// /var/cache/banger, /run/banger) and never depend on HOME: a systemd
// system service has none, and a fallback to /tmp would put root's state
// where any user can plant files. Only the CLI's own files (UserConfigDir)
// follow the XDG base directory spec.
package paths

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// Default locations of the system daemon.
const (
	DefaultStateDir = "/var/lib/banger"
	DefaultCacheDir = "/var/cache/banger"
	DefaultRunDir   = "/run/banger"
	DefaultConfig   = "/etc/banger/config.toml"
	SocketName      = "banger.sock"
	// DockerSocketName is the Docker Engine API socket's, beside the API
	// socket.
	DockerSocketName = "docker.sock"
)

// Layout is the set of directories one daemon owns. The zero value is not
// usable; build one with Default or Rooted.
type Layout struct {
	// State holds the database and everything that must survive a reboot:
	// images, kernels, VM disks, keys.
	State string
	// Run holds what dies with the host: sockets, per-VM runtime dirs,
	// handles.json, pid files.
	Run string
	// Cache holds data that can be fetched again: the OCI blob cache.
	Cache string
	// Socket is the daemon's API socket.
	Socket string
	// DockerSocket is where the daemon serves the Docker Engine API
	// (internal/dockerapi), unless docker_api.socket names another.
	DockerSocket string
}

// Default returns the layout of the system daemon: FHS state, cache and
// runtime directories, whatever the environment says.
func Default() Layout {
	return Layout{
		State:  DefaultStateDir,
		Run:    DefaultRunDir,
		Cache:  DefaultCacheDir,
		Socket: filepath.Join(DefaultRunDir, SocketName),

		DockerSocket: filepath.Join(DefaultRunDir, DockerSocketName),
	}
}

// Rooted returns a layout that keeps all daemon state, runtime files, the
// cache and the socket under root. It is what `banger daemon --root` uses and
// what tests use to run daemons side by side.
func Rooted(root string) Layout {
	return Layout{
		State:  root,
		Run:    filepath.Join(root, "run"),
		Cache:  filepath.Join(root, "cache"),
		Socket: filepath.Join(root, "run", SocketName),

		DockerSocket: filepath.Join(root, "run", DockerSocketName),
	}
}

// UserConfigDir is the CLI user's own banger directory:
// $XDG_CONFIG_HOME/banger, or ~/.config/banger. It fails when neither
// variable names a directory rather than guess one (a shared /tmp would
// let another user plant the file).
func UserConfigDir() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "banger"), nil
	}
	if home := os.Getenv("HOME"); filepath.IsAbs(home) {
		return filepath.Join(home, ".config", "banger"), nil
	}
	return "", errors.New("no config directory for banger's own files: set HOME or XDG_CONFIG_HOME")
}

// Database is the single embedded database file.
func (l Layout) Database() string { return filepath.Join(l.State, "banger.db") }

// LockFile is held (flock) by the running daemon so two daemons never share
// one state directory.
func (l Layout) LockFile() string { return filepath.Join(l.State, "daemon.lock") }

// Tmp is a scratch directory on the state file system, so a finished file can
// be renamed into place atomically.
func (l Layout) Tmp() string { return filepath.Join(l.State, "tmp") }

// OCICache is the OCI image layout holding verified blobs
// (blobs/sha256/<hex>).
func (l Layout) OCICache() string { return filepath.Join(l.Cache, "oci") }

// BuildCache keeps image builds' step files: COPY and ADD layers and the
// markers of metadata steps, named by their cache keys.
func (l Layout) BuildCache() string { return filepath.Join(l.Cache, "build") }

// Images is the directory holding one subdirectory per image.
func (l Layout) Images() string { return filepath.Join(l.State, "images") }

// Image is the directory of one image, by its id.
func (l Layout) Image(id string) string { return filepath.Join(l.Images(), id) }

// ImageRootfs is the read-only, shared ext4 file of one image.
func (l Layout) ImageRootfs(id string) string { return filepath.Join(l.Image(id), "rootfs.ext4") }

// Kernels is the directory holding one subdirectory per kernel.
func (l Layout) Kernels() string { return filepath.Join(l.State, "kernels") }

// Kernel is the directory of one kernel, by its name.
func (l Layout) Kernel(name string) string { return filepath.Join(l.Kernels(), name) }

// KernelDownloads holds kernel downloads in progress, so an interrupted
// `banger kernel pull` resumes.
func (l Layout) KernelDownloads() string { return filepath.Join(l.Cache, "kernels") }

// VMs is the directory holding one persistent subdirectory per VM.
func (l Layout) VMs() string { return filepath.Join(l.State, "vms") }

// VM is the persistent directory of one VM: its writable disk and console
// log.
func (l Layout) VM(id string) string { return filepath.Join(l.VMs(), id) }

// VMRuntimes is the directory holding one runtime directory per running VM.
func (l Layout) VMRuntimes() string { return filepath.Join(l.Run, "vms") }

// VMRuntime is the runtime directory of one VM: sockets and handles.json.
// Unix socket paths are limited to 107 bytes, so keep roots short.
func (l Layout) VMRuntime(id string) string { return filepath.Join(l.VMRuntimes(), id) }

// Volumes is the directory holding one subdirectory per named volume.
func (l Layout) Volumes() string { return filepath.Join(l.State, "volumes") }

// Volume is the directory of one named volume.
func (l Layout) Volume(name string) string { return filepath.Join(l.Volumes(), name) }

// VolumeDisk is a named volume's ext4 file.
func (l Layout) VolumeDisk(name string) string { return filepath.Join(l.Volume(name), "volume.ext4") }

// Snapshots holds the boot snapshots, one directory each.
func (l Layout) Snapshots() string { return filepath.Join(l.State, "snapshots") }

// Checkpoints holds the checkpoints of running VMs, one directory each.
func (l Layout) Checkpoints() string { return filepath.Join(l.State, "checkpoints") }

// Keys holds the daemon's SSH client key and the per-host agent keys.
func (l Layout) Keys() string { return filepath.Join(l.State, "keys") }

// Roots are the top directories of the layout: everything banger keeps is
// under one of them.
func (l Layout) Roots() []string { return []string{l.State, l.Run, l.Cache} }

// Dirs lists the directories the daemon creates at start, with their modes.
func (l Layout) Dirs() map[string]os.FileMode {
	return map[string]os.FileMode{
		l.State:         0o711,
		l.Run:           0o711,
		l.Cache:         0o700,
		l.Tmp():         0o700,
		l.Images():      0o711,
		l.Kernels():     0o711,
		l.VMs():         0o700,
		l.VMRuntimes():  0o700,
		l.Volumes():     0o700,
		l.Snapshots():   0o700,
		l.Checkpoints(): 0o700,
		l.Keys():        0o700,
		l.OCICache():    0o700,
	}
}

// Ensure creates every directory of the layout, parents first: a child
// made first would create its parent with the child's mode (a 0700 run
// dir would shut the socket's group out).
func (l Layout) Ensure() error {
	dirs := l.Dirs()
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		if err := os.MkdirAll(dir, dirs[dir]); err != nil {
			return err
		}
	}
	return nil
}
