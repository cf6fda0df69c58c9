package hostaccess

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Check applies the rule to path, as the request names it, for c: it
// returns the path the kernel resolved for c (absolute, without a
// symlink), which is what a later Open takes. Symlinks are followed as
// c follows them: c needs search on their targets' directories too.
//
// A File to write that does not exist yet is checked on its directory
// (write and search there), where Open later creates it.
func Check(c Caller, path string, want Access, kind Kind) (string, error) {
	f, err := openOnThread(c, path, want, kind, 0)
	if errors.Is(err, errdefs.ErrInvalid) && kind == File && want&Write != 0 && filepath.IsAbs(path) {
		if _, serr := os.Lstat(path); errors.Is(serr, os.ErrNotExist) {
			dir, derr := Check(c, filepath.Dir(path), Write, Directory)
			if derr != nil {
				return "", derr
			}
			return filepath.Join(dir, filepath.Base(path)), nil
		}
	}
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	return resolvedName(f, path)
}

// Open applies the rule again to a path Check returned and opens it for
// c: an O_PATH file of the object itself (reopen it through
// /proc/self/fd, or bind-mount that). No symlink is followed: a
// component that became one since the check fails the open. A File to
// write that does not exist is created, as c (so it is c's own).
func Open(c Caller, resolved string, want Access, kind Kind) (*os.File, error) {
	return openOnThread(c, resolved, want, kind, unix.RESOLVE_NO_SYMLINKS)
}

// OpenLocked is Open on the calling goroutine, which must have locked
// its OS thread (runtime.LockOSThread) and, when it gets an
// errThreadTainted error, never unlock it.
func OpenLocked(c Caller, resolved string, want Access, kind Kind) (*os.File, error) {
	return openAs(c, resolved, want, kind, unix.RESOLVE_NO_SYMLINKS)
}

// openAs opens path as c (openChecked, with resolve's rules) on the
// calling locked thread: Check's (resolve 0: symlinks followed as c
// follows them) and Open's (no symlink).
func openAs(c Caller, path string, want Access, kind Kind, resolve uint64) (*os.File, error) {
	if !c.Known() {
		return nil, unknownError(path, want)
	}
	var f *os.File
	var ferr error
	if err := asCaller(c, func() { f, ferr = openChecked(c, path, want, kind, resolve) }); err != nil {
		if f != nil {
			_ = f.Close()
		}
		return nil, err
	}
	return f, ferr
}

// openOnThread is openAs on a locked thread of its own (onThread).
func openOnThread(c Caller, path string, want Access, kind Kind, resolve uint64) (*os.File, error) {
	var f *os.File
	err := onThread(func() error {
		var err error
		f, err = openAs(c, path, want, kind, resolve)
		return err
	})
	return f, err
}

// unknownError refuses a request without credentials.
func unknownError(path string, want Access) error {
	return &DeniedError{Path: path, Caller: Unknown, Want: want,
		Why: "the request came without peer credentials (not over the daemon's unix socket), so whose access to check is unknown"}
}

// errThreadTainted is a thread whose credentials could not be restored.
var errThreadTainted = errors.New("the thread's credentials could not be restored")

// onThread runs fn on a goroutine locked to its thread; a thread fn
// leaves tainted ends with the goroutine.
func onThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := fn()
		if !errors.Is(err, errThreadTainted) {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// asCaller runs fn with the calling (locked) thread's file-system ids and
// groups set to c's, then restores them. uid 0 runs fn as it is.
func asCaller(c Caller, fn func()) error {
	if c.IsRoot() {
		fn()
		return nil
	}
	if !c.Known() {
		return fmt.Errorf("%w: %s has no credentials to check as", errdefs.ErrPermission, c)
	}
	groups, err := unix.Getgroups()
	if err != nil {
		return err
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if err := switchIDs(c.Groups, c.GID, c.UID); err != nil {
		if rerr := switchIDs(groups, gid, uid); rerr != nil {
			return fmt.Errorf("%w: %w (after %w)", errThreadTainted, rerr, err)
		}
		return fmt.Errorf("check as %s: %w", c, err)
	}
	fn()
	if err := switchIDs(groups, gid, uid); err != nil {
		return fmt.Errorf("%w: %w", errThreadTainted, err)
	}
	return nil
}

// switchIDs sets the thread's groups, fsgid and fsuid (in that order:
// setgroups needs the capabilities a non-zero fsuid drops) and checks
// each took.
func switchIDs(groups []int, gid, uid int) error {
	if uid == 0 {
		// Back to root: the fsuid first, which gives the file
		// capabilities back; then the rest.
		if err := setfsuid(uid); err != nil {
			return err
		}
		if err := setfsgid(gid); err != nil {
			return err
		}
		return unix.Setgroups(groups)
	}
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := setfsgid(gid); err != nil {
		return err
	}
	return setfsuid(uid)
}

// setfsuid and setfsgid report no error: a second call returns the id
// the first set, or the old one.
func setfsuid(uid int) error {
	_, _ = unix.SetfsuidRetUid(uid)
	if now, _ := unix.SetfsuidRetUid(uid); now != uid {
		return fmt.Errorf("setfsuid %d: the fsuid is still %d", uid, now)
	}
	return nil
}

func setfsgid(gid int) error {
	_, _ = unix.SetfsgidRetGid(gid)
	if now, _ := unix.SetfsgidRetGid(gid); now != gid {
		return fmt.Errorf("setfsgid %d: the fsgid is still %d", gid, now)
	}
	return nil
}

// openChecked runs as c: it opens path (O_PATH, with resolve's rules)
// and asks the kernel whether c has want on it.
func openChecked(c Caller, path string, want Access, kind Kind, resolve uint64) (*os.File, error) {
	if !filepath.IsAbs(path) {
		return nil, invalid(fmt.Sprintf("host path %q is relative; give an absolute path", path))
	}
	flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
	mode := uint32(0)
	if want&Read != 0 {
		mode |= unix.R_OK
	}
	if want&Write != 0 {
		mode |= unix.W_OK
	}
	if kind != File {
		flags |= unix.O_DIRECTORY
		mode |= unix.X_OK
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{Flags: flags, Resolve: resolve})
	created := false
	if errors.Is(err, unix.ENOENT) && kind == File && want&Write != 0 && resolve != 0 {
		fd, err = create(path, resolve)
		created = err == nil
	}
	if err != nil {
		return nil, openError(c, path, want, kind, resolve, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if created {
		return f, nil // the caller's own, made by the kernel's checks
	}
	if err := access(fd, mode); err != nil {
		err = accessError(c, path, want, fd, mode, err)
		_ = f.Close()
		return nil, err
	}
	if kind == Tree && !c.IsRoot() {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			_ = f.Close()
			return nil, err
		}
		if int(st.Uid) != c.UID {
			_ = f.Close()
			return nil, &DeniedError{Path: path, Caller: c, Want: want,
				Why: fmt.Sprintf("the directory is owned by uid %d; a directory a VM mounts or copies is served whole, by root, so it must be the caller's own", st.Uid)}
		}
	}
	return f, nil
}

// create makes a missing file to write, as the caller (O_EXCL: it never
// opens what another made meanwhile), and opens it O_PATH.
func create(path string, resolve uint64) (int, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{Flags: unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_CLOEXEC, Mode: 0o600, Resolve: resolve})
	if err != nil {
		return -1, err
	}
	_ = unix.Close(fd)
	return unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolve})
}

// access is faccessat2 on an open file with the effective (here: file
// system) ids.
func access(fd int, mode uint32) error {
	return unix.Faccessat2(fd, "", mode, unix.AT_EMPTY_PATH|unix.AT_EACCESS)
}

// openError says why path could not be opened as c (with resolve's
// rules).
func openError(c Caller, path string, want Access, kind Kind, resolve uint64, err error) error {
	switch {
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		why := "a directory on the way to it is not searchable"
		if dir := unsearchable(path); dir != "" {
			why = "no search (x) permission on " + dir
		}
		if kind == File && want&Write != 0 {
			why += ", or no write permission on the directory to create it in"
		}
		return &DeniedError{Path: path, Caller: c, Want: want, Why: why}
	case errors.Is(err, unix.ELOOP) && resolve == 0:
		return invalid("host path " + path + " is a loop of symbolic links (or has too many of them)")
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		return &DeniedError{Path: path, Caller: c, Want: want,
			Why: "a component of it is a symbolic link now, but was not when the path was checked; name the path again"}
	case errors.Is(err, unix.ENOENT):
		return invalid("host path " + path + " does not exist")
	case errors.Is(err, unix.ENOTDIR) && kind != File:
		return invalid("host path " + path + " is not a directory")
	}
	return fmt.Errorf("host path %s: %w", path, err)
}

// unsearchable returns the first directory on the way to path that the
// thread's ids cannot search, or "".
func unsearchable(path string) string {
	dir := "/"
	for _, part := range strings.Split(strings.Trim(filepath.Dir(path), "/"), "/") {
		if err := unix.Faccessat2(unix.AT_FDCWD, dir, unix.X_OK, unix.AT_EACCESS); errors.Is(err, unix.EACCES) {
			return dir
		}
		dir = filepath.Join(dir, part)
	}
	if err := unix.Faccessat2(unix.AT_FDCWD, dir, unix.X_OK, unix.AT_EACCESS); errors.Is(err, unix.EACCES) {
		return dir
	}
	return ""
}

// accessError says which of the access bits asked (mode) fd lacks.
func accessError(c Caller, path string, want Access, fd int, mode uint32, err error) error {
	if errors.Is(err, unix.EROFS) {
		return &DeniedError{Path: path, Caller: c, Want: want, Why: "it is on a read-only file system"}
	}
	if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("host path %s: %w", path, err)
	}
	var missing []string
	for _, b := range []struct {
		mode uint32
		name string
	}{{unix.R_OK, "read (r)"}, {unix.W_OK, "write (w)"}, {unix.X_OK, "search (x)"}} {
		if mode&b.mode != 0 && access(fd, b.mode) != nil {
			missing = append(missing, b.name)
		}
	}
	return &DeniedError{Path: path, Caller: c, Want: want, Why: "no " + strings.Join(missing, " or ") + " permission on it"}
}

// resolvedName is the path the kernel resolved for f.
func resolvedName(f *os.File, asked string) (string, error) {
	name, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return "", fmt.Errorf("host path %s: resolve it: %w", asked, err)
	}
	if !filepath.IsAbs(name) || strings.HasSuffix(name, " (deleted)") {
		return "", invalid("host path " + asked + " was removed while it was checked")
	}
	return name, nil
}

// invalid is a path that cannot be used by anyone: errdefs.ErrInvalid,
// its message without the category, so a caller can prefix its flag.
type invalid string

func (e invalid) Error() string { return string(e) }
func (invalid) Unwrap() error   { return errdefs.ErrInvalid }
