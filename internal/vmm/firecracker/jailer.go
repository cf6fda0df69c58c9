package firecracker

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// JailConfig configures Firecracker's jailer.
type JailConfig struct {
	// Binary is the jailer executable.
	Binary string
	// ChrootBase is the jailer's --chroot-base-dir.
	ChrootBase string
	// UID and GID Firecracker runs as inside the jail.
	UID, GID int
	// IDsErr says why UID and GID could not be found (the configured user
	// does not exist): Start refuses rather than run Firecracker as root.
	IDsErr error
	// CgroupParent is the cgroup v2 parent (relative to CgroupRoot) the
	// jailer creates the VM's cgroup under; empty means the jailer's
	// default, the exec file's name.
	CgroupParent string
	// NetNS is a network namespace handle to join, when set.
	NetNS string
	// CgroupRoot is where cgroup v2 is mounted (/sys/fs/cgroup).
	CgroupRoot string
}

// Names of the files inside a jail. They are the same in every jail, so
// the paths recorded in a snapshot's state are valid in any other jail.
const (
	jailAPISock = "/api.sock"
	jailVsock   = "/vsock.sock"
	jailLog     = "/firecracker.log"
	jailMetrics = "/firecracker.metrics"
	jailKernel  = "/vmlinux"
	jailInitrd  = "/initrd.img"
)

// FileOpKind says what a FileOp does.
type FileOpKind string

// The file operations of a jail plan.
const (
	// OpMkdir creates the directory Dst (and its parents).
	OpMkdir FileOpKind = "mkdir"
	// OpLink hard-links Src at Dst. When they are on different file
	// systems a read-only file is copied; a writable one is an error (a
	// copy would split the guest's writes from the file banger keeps).
	OpLink FileOpKind = "link"
	// OpMknod creates a block device node at Dst with Src's device number
	// (a dm-snapshot or loop device cannot be hard-linked out of /dev).
	OpMknod FileOpKind = "mknod"
	// OpCreate creates the empty file Dst (Firecracker opens its log and
	// metrics files without creating them).
	OpCreate FileOpKind = "create"
	// OpSymlink creates Dst pointing at Src: the runtime dir's short names
	// for the sockets and log inside the jail.
	OpSymlink FileOpKind = "symlink"
)

// FileOp is one file operation of a jail plan.
type FileOp struct {
	Kind     FileOpKind
	Src, Dst string
	// Writable files are owned by the jail's uid:gid after the operation.
	Writable bool
	// Rdev is the device number, for OpMknod.
	Rdev uint64
}

// JailPlan is everything running one VM under the jailer takes, as values.
type JailPlan struct {
	// Argv runs the jailer, which execs Firecracker in the jail.
	Argv []string
	// Dir is <chroot base>/<exec name>/<vm id>; Cleanup removes it.
	Dir string
	// Root is Dir/root, the jailed Firecracker's "/".
	Root string
	// Ops prepare the jail, in order, before Argv runs.
	Ops []FileOp
	// Paths are the paths Firecracker is given (jail-relative).
	Paths vmPaths
	// APISock is the host path of the API socket inside the jail (what to
	// wait for).
	APISock string
	// Cgroup is the cgroup the jailer creates; Cleanup removes it.
	Cgroup string
}

// statFunc reports whether path is a block device, and its device number.
type statFunc func(path string) (block bool, rdev uint64, err error)

// planJail builds the jail plan for spec. firecracker is the resolved
// Firecracker binary; rt lists the runtime dir's entries that point into
// the jail.
func planJail(cfg JailConfig, firecracker string, spec vmm.Spec, rt runtimeFiles, stat statFunc) (JailPlan, error) {
	name := filepath.Base(firecracker)
	if !strings.Contains(name, "firecracker") {
		return JailPlan{}, fmt.Errorf("jailer: %w: the firecracker binary's name %q must contain \"firecracker\" (the jailer insists)", errdefs.ErrInvalid, name)
	}
	if !filepath.IsAbs(cfg.ChrootBase) {
		return JailPlan{}, fmt.Errorf("jailer: %w: chroot base %q must be an absolute path", errdefs.ErrInvalid, cfg.ChrootBase)
	}
	dir := filepath.Join(cfg.ChrootBase, name, spec.ID)
	root := filepath.Join(dir, "root")
	parent := cfg.CgroupParent
	if parent == "" {
		parent = name
	}
	p := JailPlan{
		Dir: dir, Root: root,
		APISock: filepath.Join(root, jailAPISock),
		Cgroup:  filepath.Join(cfg.CgroupRoot, parent, spec.ID),
		Paths: vmPaths{
			Kernel: jailKernel, Log: jailLog, Metrics: jailMetrics, Vsock: jailVsock,
			Drives: make([]string, len(spec.Drives)),
		},
		Ops: []FileOp{{Kind: OpMkdir, Dst: root}},
	}
	link := func(src, jailPath string, writable bool) error {
		block, rdev, err := stat(src)
		if err != nil {
			return fmt.Errorf("jailer: %w", err)
		}
		op := FileOp{Kind: OpLink, Src: src, Dst: filepath.Join(root, jailPath), Writable: writable}
		if block {
			op.Kind, op.Rdev = OpMknod, rdev
		}
		p.Ops = append(p.Ops, op)
		return nil
	}
	if err := link(spec.Kernel.Vmlinux, jailKernel, false); err != nil {
		return JailPlan{}, err
	}
	if spec.Kernel.Initrd != "" {
		p.Paths.Initrd = jailInitrd
		if err := link(spec.Kernel.Initrd, jailInitrd, false); err != nil {
			return JailPlan{}, err
		}
	}
	for i, id := range driveIDs(spec.Drives) {
		p.Paths.Drives[i] = "/drive-" + id
		if err := link(spec.Drives[i].Path, p.Paths.Drives[i], !spec.Drives[i].ReadOnly); err != nil {
			return JailPlan{}, err
		}
	}
	p.Ops = append(p.Ops,
		FileOp{Kind: OpCreate, Dst: filepath.Join(root, jailLog), Writable: true},
		FileOp{Kind: OpCreate, Dst: filepath.Join(root, jailMetrics), Writable: true},
		FileOp{Kind: OpSymlink, Src: filepath.Join(root, jailAPISock), Dst: rt.API},
		FileOp{Kind: OpSymlink, Src: filepath.Join(root, jailVsock), Dst: rt.Vsock},
		FileOp{Kind: OpSymlink, Src: filepath.Join(root, jailLog), Dst: rt.Log},
	)
	p.Argv = []string{
		cfg.Binary,
		"--id", spec.ID,
		"--exec-file", firecracker,
		"--uid", strconv.Itoa(cfg.UID),
		"--gid", strconv.Itoa(cfg.GID),
		"--chroot-base-dir", cfg.ChrootBase,
		"--cgroup-version", "2",
	}
	if cfg.CgroupParent != "" {
		p.Argv = append(p.Argv, "--parent-cgroup", cfg.CgroupParent)
	}
	if cfg.NetNS != "" {
		p.Argv = append(p.Argv, "--netns", cfg.NetNS)
	}
	p.Argv = append(p.Argv, "--", "--api-sock", jailAPISock)
	return p, nil
}

// linkInto adds the ops that bring extra host files (a snapshot's files)
// into the jail: each pair is {host path, jail-relative path}.
func (p *JailPlan) linkInto(stat statFunc, files ...[2]string) error {
	for _, f := range files {
		src, jailPath := f[0], f[1]
		block, _, err := stat(src)
		if err != nil {
			return fmt.Errorf("jailer: %w", err)
		}
		if block {
			return fmt.Errorf("jailer: %s: %w: a snapshot file must be a regular file", src, errdefs.ErrInvalid)
		}
		p.Ops = append(p.Ops, FileOp{Kind: OpLink, Src: src, Dst: filepath.Join(p.Root, jailPath)})
	}
	return nil
}

// statPath is the statFunc of the host.
func statPath(path string) (bool, uint64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, 0, err
	}
	if fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
		return true, deviceNumber(fi), nil
	}
	if !fi.Mode().IsRegular() {
		return false, 0, fmt.Errorf("%s: %w: neither a regular file nor a block device", path, errdefs.ErrInvalid)
	}
	return false, 0, nil
}

// jailerBinary resolves firecracker.jailer: "auto" is the jailer in PATH
// when there is one (Firecracker runs jailed whenever it can), else none;
// "" is none; anything else is that binary.
func jailerBinary(cfg string, lookPath func(string) (string, error)) string {
	if cfg != "auto" {
		return cfg
	}
	p, err := lookPath("jailer")
	if err != nil {
		return ""
	}
	return p
}

// jailIDs decides the ids Firecracker runs as in the jail: uid and gid
// when either is set, else the user's (lookup finds it), else root when
// no user is configured either.
func jailIDs(name string, uid, gid int, lookup func(string) (*user.User, error)) (int, int, error) {
	if uid != 0 || gid != 0 || name == "" {
		return uid, gid, nil
	}
	u, err := lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: firecracker jail user %s: %w: run `sudo banger setup`, which creates it, or set [firecracker] uid and gid", errdefs.ErrUnavailable, name, err)
	}
	id, err1 := strconv.Atoi(u.Uid)
	g, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%w: firecracker jail user %s has ids %q:%q, not numbers", errdefs.ErrInvalid, name, u.Uid, u.Gid)
	}
	return id, g, nil
}
