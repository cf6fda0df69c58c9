package qemu

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/bangerdev/banger/internal/nsrun"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// inherited is a file QEMU inherits from the daemon: QEMU opens nothing of
// banger's by path. The daemon opens each file with the access QEMU needs
// (read-only for the kernel, initrd, image and config drive, read-write
// for the VM's own disk, append for its console log) and binds the QMP and
// agent sockets, and QEMU reaches them through /dev/fdset/N (-add-fd),
// fd=N (sockets) or /proc/self/fd/N (-kernel, -initrd take only paths;
// that link skips directory permissions, not the file's). So a QEMU
// running as an unprivileged user writes exactly the files it was handed,
// and every file of banger's stays root's, in root-only directories — no
// chown to record or undo, and no path by which one VM's QEMU reaches
// another VM's disk or sockets.
type inherited struct {
	Path string
	// Flag are the open flags (os.O_RDONLY, ...); ignored for sockets.
	Flag int
	// Listen makes Path a unix socket the daemon binds and listens on.
	Listen bool
	// Connect makes Path a unix socket the daemon connects to (a
	// virtiofsd's, listening already), so QEMU needs no access to it.
	Connect bool
	// Tap makes Path the name of a tap the daemon attaches to (TUNSETIFF
	// on /dev/net/tun, as root), so QEMU needs neither CAP_NET_ADMIN nor
	// access to /dev/net/tun (0600 on some hosts), and no process of the
	// VMM user can attach to another VM's tap. Netns is the network
	// namespace the tap is in (vmm.NIC.Netns): the daemon attaches to it
	// from a thread inside that namespace.
	Tap   bool
	Netns string
}

// fdPlan numbers inherited files: the i-th is descriptor 3+i in QEMU
// (exec.Cmd.ExtraFiles).
type fdPlan struct {
	files []inherited
	sets  int
}

func (p *fdPlan) add(f inherited) string {
	p.files = append(p.files, f)
	return strconv.Itoa(2 + len(p.files))
}

// path is a descriptor as a path QEMU opens (-kernel, -initrd).
func (p *fdPlan) path(file string) string {
	return "/proc/self/fd/" + p.add(inherited{Path: file, Flag: os.O_RDONLY})
}

// socket is a listening socket's descriptor number (chardev fd=).
func (p *fdPlan) socket(path string) string { return p.add(inherited{Path: path, Listen: true}) }

// connected is a connected socket's descriptor number (chardev fd=).
func (p *fdPlan) connected(path string) string {
	return p.add(inherited{Path: path, Connect: true})
}

// tap is an attached tap's descriptor number (-netdev tap,fd=).
func (p *fdPlan) tap(n vmm.NIC) string {
	return p.add(inherited{Path: n.Tap, Tap: true, Netns: n.Netns})
}

// set opens file once per flag into a new fd set and returns its -add-fd
// arguments; lastSet names it.
func (p *fdPlan) set(file string, flags ...int) []string {
	p.sets++
	var args []string
	for _, f := range flags {
		args = append(args, "-add-fd", "fd="+p.add(inherited{Path: file, Flag: f})+",set="+strconv.Itoa(p.sets))
	}
	return args
}

func (p *fdPlan) lastSet() string { return "/dev/fdset/" + strconv.Itoa(p.sets) }

// FDLegendPrefix starts each line of the legend spawn writes at the top
// of QEMU's log: "banger: fd 3 = /path/to/file".
const FDLegendPrefix = "banger: fd "

// fdLegend says which descriptor QEMU inherits is which file.
func fdLegend(files []inherited) string {
	var b strings.Builder
	for i, f := range files {
		fmt.Fprintf(&b, "%s%d = %s\n", FDLegendPrefix, 3+i, f.Path)
	}
	return b.String()
}

// withoutLegend drops fdLegend's lines from QEMU's log.
func withoutLegend(log []byte) []byte {
	var out []byte
	for line := range bytes.Lines(log) {
		if !bytes.HasPrefix(line, []byte(FDLegendPrefix)) {
			out = append(out, line...)
		}
	}
	return out
}

// openInherited opens (binds) every file in order. On error it closes what
// it opened and removes the sockets it bound.
func openInherited(files []inherited) (out []*os.File, err error) {
	defer func() {
		if err != nil {
			closeAll(out)
			for _, f := range files {
				if f.Listen {
					_ = os.Remove(f.Path)
				}
			}
		}
	}()
	for _, f := range files {
		var file *os.File
		switch {
		case f.Listen:
			file, err = listenUnix(f.Path)
		case f.Connect:
			file, err = dialUnix(f.Path)
		case f.Tap:
			file, err = openTapIn(f.Netns, f.Path)
		default:
			file, err = os.OpenFile(f.Path, f.Flag|syscall.O_CLOEXEC, 0o600)
		}
		if err != nil {
			return out, fmt.Errorf("open %s for qemu: %w", f.Path, err)
		}
		out = append(out, file)
	}
	return out, nil
}

// listenUnix binds a listening socket at path (replacing a stale one from
// an earlier run) and returns its descriptor; the socket file stays when
// the daemon's copy closes.
func listenUnix(path string) (*os.File, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	_ = l.Close()
	return f, err
}

// dialUnix connects to the unix socket at path and returns the
// connection's descriptor.
func dialUnix(path string) (*os.File, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	f, err := c.File()
	_ = c.Close()
	return f, err
}

func closeAll(files []*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// checkFiles makes a missing kernel or disk a clear error before anything
// is created.
func checkFiles(spec vmm.Spec, r *vmm.RestoreSpec) error {
	type file struct{ what, path string }
	paths := []file{
		{"kernel", spec.Kernel.BzImage},
		{"kernel", spec.Kernel.Vmlinux},
		{"initrd", spec.Kernel.Initrd},
	}
	if r != nil {
		paths = append(paths, file{"snapshot state", r.StatePath}, file{"snapshot memory", r.MemPath})
	}
	for _, d := range spec.Drives {
		paths = append(paths, file{"drive " + d.ID, d.Path})
	}
	for _, d := range spec.SharedDirs {
		paths = append(paths, file{"shared dir " + d.Tag + " socket", d.Socket})
	}
	for _, p := range paths {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s %s: %w", p.what, p.path, errdefs.ErrNotFound)
			}
			return fmt.Errorf("%s: %w", p.what, err)
		}
	}
	if fi, err := os.Stat(spec.RuntimeDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("runtime dir %s must exist: %w", spec.RuntimeDir, errdefs.ErrInvalid)
	}
	return nil
}

// openTapIn attaches to the tap name in the network namespace netns (the
// daemon's own when empty). The queue's descriptor stays the tap's
// wherever it goes: QEMU, in the daemon's namespace, reads and writes
// the pod's tap through it.
func openTapIn(netns, name string) (*os.File, error) {
	if netns == "" {
		return openTap(name)
	}
	var f *os.File
	err := nsrun.Net(netns, func() (err error) {
		f, err = openTap(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tap %s in network namespace %s: %w", name, netns, err)
	}
	return f, nil
}
