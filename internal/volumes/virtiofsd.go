package volumes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/hostaccess"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/rootfs/dmsnap"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// EnvRole marks a process banger starts for a VM besides its VMM: every
// such process carries the VM's id in vmm.EnvVMID (so the inventory and
// the leak checks find it) and its role here.
const EnvRole = "BANGER_ROLE"

// RoleVirtiofsd is EnvRole's value for a shared directory's virtiofsd.
const RoleVirtiofsd = "virtiofsd"

// virtiofsdPaths are where distributions install virtiofsd: QEMU's own
// (Debian 12's qemu-system-common), then the standalone package's.
var virtiofsdPaths = []string{"/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "/usr/lib/virtiofsd"}

// FindVirtiofsd returns the virtiofsd binary: configured when set (a
// path, or a name looked up in PATH), else the first of the usual places.
func FindVirtiofsd(configured string) (string, error) {
	if configured != "" {
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", fmt.Errorf("%w: virtiofsd %s: %w", errdefs.ErrUnavailable, configured, err)
		}
		return p, nil
	}
	for _, p := range virtiofsdPaths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("virtiofsd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: no virtiofsd (looked at %s and PATH): install qemu-system-common (Debian, Ubuntu) or virtiofsd to share host directories", errdefs.ErrUnavailable, strings.Join(virtiofsdPaths, ", "))
}

// Share is one shared directory's virtiofsd.
type Share struct {
	VMID string
	// Dir is the host directory the guest sees.
	Dir string
	// Socket is the vhost-user socket the VMM connects to; Log receives
	// virtiofsd's messages. Both go in the VM's runtime directory.
	Socket, Log string
	// ReadOnly shares Dir through a read-only bind mount that only this
	// virtiofsd sees, so the host refuses writes whatever the guest does.
	ReadOnly bool
	// Caller is whose access Dir is opened with (package hostaccess): the
	// client whose spec named it, hostaccess.Root for the daemon's own
	// directories (a pod share).
	Caller hostaccess.Caller
}

// root is where the share's directory is mounted in its virtiofsd's
// mount namespace: an empty directory next to its socket.
func (s Share) root() string { return strings.TrimSuffix(s.Socket, ".sock") + ".root" }

// virtiofsdArgs is virtiofsd's command line for s (the C virtiofsd QEMU
// ships; the Rust one accepts the same -o options):
//   - it serves the socket banger made and passes as fd 3, so the socket
//     exists, ready for the VMM to connect, as soon as Start returns;
//   - sandbox=namespace: it pivot_roots into Dir in mount, pid and net
//     namespaces of its own, so a guest cannot reach outside Dir;
//   - cache=auto: the guest caches for a second and revalidates on
//     open, so a host write is seen at the guest's next open (close-to-
//     open, as NFS) while mmap and the page cache work; cache=none would
//     make every read a round trip and refuse shared writable mmaps;
//   - announce_submounts: a file system mounted under Dir on the host
//     shows as its own mount in the guest, so inode numbers never clash.
func virtiofsdArgs(bin string, s Share) []string {
	return []string{
		bin, "--fd=3",
		"-o", "source=" + fuseEscape(s.root()),
		"-o", "sandbox=namespace",
		"-o", "cache=auto",
		"-o", "announce_submounts",
		"-o", "log_level=warn",
	}
}

// fuseEscape escapes a value inside FUSE's comma-separated -o list, where
// a backslash quotes the next character.
func fuseEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`).Replace(s)
}

// StartShare starts virtiofsd for s and returns its identity once its
// socket accepts connections. The process runs in a session of its own
// (a daemon restart leaves it to the VM it serves), carries the VM's id
// and its role in its environment, and ends by itself when the VMM
// disconnects.
func StartShare(bin string, s Share) (proc.Identity, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.Socket, Net: "unix"})
	if err != nil {
		return proc.Identity{}, fmt.Errorf("virtiofsd socket: %w", err)
	}
	l.SetUnlinkOnClose(false) // the socket outlives this listener: virtiofsd serves it
	sock, err := l.File()
	_ = l.Close()
	if err != nil {
		_ = os.Remove(s.Socket)
		return proc.Identity{}, err
	}
	defer func() { _ = sock.Close() }()
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		_ = os.Remove(s.Socket)
		return proc.Identity{}, err
	}
	defer func() { _ = logf.Close() }()
	if err := os.Mkdir(s.root(), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		_ = os.Remove(s.Socket)
		return proc.Identity{}, fmt.Errorf("virtiofsd root: %w", err)
	}
	argv := virtiofsdArgs(bin, s)
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:noctx,gosec // it outlives the request; argv is built from a checked path
	cmd.Env = vmm.MarkedEnv(os.Environ(), s.VMID, EnvRole+"="+RoleVirtiofsd)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := startServed(s, s.root(), cmd); err != nil {
		_ = os.Remove(s.Socket)
		_ = os.Remove(s.root())
		return proc.Identity{}, fmt.Errorf("start virtiofsd for %s: %w", s.Dir, err)
	}
	go func() { _ = cmd.Wait() }() // reap it; its life is the VM's
	id, err := proc.Lookup(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = os.Remove(s.Socket)
		return proc.Identity{}, err
	}
	return id, nil
}

// StopShare ends the recorded virtiofsd (when it is still that process;
// its sandboxed child follows it) and removes its socket, log and root. It is
// idempotent.
func StopShare(id proc.Identity, socket, log string) error {
	var errs []error
	if id.PID > 0 {
		errs = append(errs, id.Kill(5*time.Second))
	}
	root := ""
	if socket != "" {
		root = Share{Socket: socket}.root()
	}
	for _, p := range []string{socket, log, root} {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StopSharesOf kills every virtiofsd that carries vmID, recorded or not
// (one started by a daemon that died before it recorded it, the
// sandboxed child of a killed one).
func StopSharesOf(vmID string) error {
	pids, err := proc.FindByEnv(vmm.EnvVMID, vmID)
	if err != nil {
		return nil //nolint:nilerr // no /proc to search: nothing to find
	}
	var errs []error
	for _, pid := range pids {
		env, err := proc.Environ(pid)
		if err != nil || !slices.Contains(env, EnvRole+"="+RoleVirtiofsd) {
			continue
		}
		if id, err := proc.Lookup(pid); err == nil {
			errs = append(errs, id.Kill(5*time.Second))
		}
	}
	return errors.Join(errs...)
}

// Host is the host edge of shared directories and directory images, as
// the VM service uses it.
type Host struct {
	// Virtiofsd is the configured binary ("" finds it: FindVirtiofsd).
	Virtiofsd string
}

// StartShare finds virtiofsd and starts it for s (see StartShare).
func (h Host) StartShare(s Share) (proc.Identity, error) {
	bin, err := FindVirtiofsd(h.Virtiofsd)
	if err != nil {
		return proc.Identity{}, err
	}
	return StartShare(bin, s)
}

// StopShare is StopShare.
func (Host) StopShare(id proc.Identity, socket, log string) error { return StopShare(id, socket, log) }

// StopSharesOf is StopSharesOf.
func (Host) StopSharesOf(vmID string) error { return StopSharesOf(vmID) }

// MakePod makes a pod share (MakePod).
func (Host) MakePod(dir string) error { return MakePod(dir) }

// ReleasePod unmounts and removes a pod share (ReleasePod).
func (Host) ReleasePod(dir string) error { return ReleasePod(dir) }

// MountPodImage mounts the ext4 image read-only at target, on a loop
// device labelled with the VM's id and the target's name.
func (Host) MountPodImage(vmID, image, target string) error {
	return MountPodImage(image, target, func(image string) (string, io.Closer, error) {
		return dmsnap.AttachLoop(image, "banger-"+vmID+"-"+filepath.Base(target), true)
	})
}

// UnmountPodImage lazily unmounts target and removes it (UnmountPodImage).
func (Host) UnmountPodImage(target string) error { return UnmountPodImage(target) }

// BuildImage is BuildImage.
func (Host) BuildImage(ctx context.Context, dir, path string, size int64) (string, error) {
	return BuildImage(ctx, dir, path, size)
}
