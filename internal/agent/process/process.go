// Package process turns a container-style process description (argv, env,
// working dir, OCI user) into an exec.Cmd the way container runtimes do:
// the user comes from the image's /etc/passwd and /etc/group, argv[0] is
// found in the process's own PATH (not the agent's), and HOME and PATH get
// defaults. It also owns child bookkeeping for PID 1 (Reaper), so reaping
// orphans never steals the exit status of a process the agent waits for.
package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bangerdev/banger/internal/agent/users"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// DefaultPath is the PATH of a process whose environment has none (the
// value Docker and containerd use).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Spec describes a process.
type Spec struct {
	Argv []string
	Env  []string
	// Dir is the working directory; empty means "/".
	Dir string
	// User is an OCI user string; empty means root.
	User string
	// Chroot, when set, is a directory under the guest's "/" (a
	// container's root, package ctrroot) that the process runs chrooted
	// in: its user, argv[0] and working directory are resolved there.
	Chroot string
}

// Exit codes a shell would give, used when a process cannot start.
const (
	ExitNotFound      = 127
	ExitNotExecutable = 126
)

// StartError is a process that could not be started; Code is what a shell
// would have exited with (127 not found, 126 not executable).
type StartError struct {
	Code int
	Err  error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// StartCode is the exit status of a process that could not start with
// err, decided by the cause, never by the message: a StartError's Code
// (every error of Command is one); for execve's own error, 127 when it is
// ENOENT (the file exists — LookPath saw it — so its interpreter or
// dynamic loader is missing, which a shell also reports as not found) and
// 126 for anything else (EACCES, ENOEXEC: not executable).
func StartCode(err error) int {
	var se *StartError
	switch {
	case errors.As(err, &se):
		return se.Code
	case errors.Is(err, syscall.ENOENT):
		return ExitNotFound
	default:
		return ExitNotExecutable
	}
}

// Command builds the command for spec, resolving the user and argv[0]
// against root (the guest's "/"). The caller sets stdio and starts it.
func Command(root string, spec Spec) (*exec.Cmd, users.User, error) {
	if len(spec.Argv) == 0 {
		return nil, users.User{}, fmt.Errorf("empty argv: %w", errdefs.ErrInvalid)
	}
	if spec.Chroot != "" {
		return chrooted(root, spec)
	}
	u, err := users.Lookup(root, spec.User)
	if err != nil {
		return nil, users.User{}, &StartError{Code: ExitNotExecutable, Err: err}
	}
	env := WithDefaults(spec.Env, u)
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	// A missing working directory would fail execve's chdir with ENOENT,
	// which StartCode reads as a missing program.
	if fi, err := StatIn(root, dir); err != nil || !fi.IsDir() {
		return nil, u, &StartError{Code: ExitNotExecutable, Err: fmt.Errorf("working directory %q: not a directory in the guest", dir)}
	}
	path, err := LookPath(root, spec.Argv[0], Getenv(env, "PATH"), dir)
	if err != nil {
		return nil, u, err
	}
	cmd := &exec.Cmd{Path: path, Args: spec.Argv, Env: env, Dir: dir, SysProcAttr: &syscall.SysProcAttr{}}
	cred, err := credential(u, spec.User != "")
	if err != nil {
		return nil, u, &StartError{Code: ExitNotExecutable, Err: err}
	}
	cmd.SysProcAttr.Credential = cred
	return cmd, u, nil
}

// chrooted is Command for a process that runs chrooted in spec.Chroot:
// resolved against that directory as its root, then given paths as the
// process sees them after chroot(2) (which the kernel does before the
// working directory is entered and argv[0] executed).
func chrooted(root string, spec Spec) (*exec.Cmd, users.User, error) {
	if !filepath.IsAbs(spec.Chroot) {
		return nil, users.User{}, fmt.Errorf("chroot %q: want an absolute path: %w", spec.Chroot, errdefs.ErrInvalid)
	}
	dir := filepath.Join(root, spec.Chroot)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, users.User{}, &StartError{Code: ExitNotExecutable, Err: fmt.Errorf("chroot %s: no such directory (the container's root is not made, or was removed): %w", spec.Chroot, errdefs.ErrNotFound)}
	}
	inner := spec
	inner.Chroot = ""
	cmd, u, err := Command(dir, inner)
	if err != nil {
		return nil, u, err
	}
	rel, err := filepath.Rel(dir, cmd.Path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, u, &StartError{Code: ExitNotExecutable, Err: fmt.Errorf("%q resolves outside the chroot %s", spec.Argv[0], spec.Chroot)}
	}
	cmd.Path = "/" + rel
	cmd.SysProcAttr.Chroot = dir
	return cmd, u, nil
}

// credential switches to u when the agent is root. An unprivileged agent
// (tests, a developer's `banger-agent serve`) runs what asks for no user as
// itself, and refuses any other user.
func credential(u users.User, asked bool) (*syscall.Credential, error) {
	euid := os.Geteuid()
	if euid == 0 {
		return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups}, nil
	}
	if !asked || uint32(euid) == u.UID {
		return nil, nil
	}
	return nil, fmt.Errorf("cannot run as uid %d: the agent is not root: %w", u.UID, errdefs.ErrUnsupported)
}

// WithDefaults returns env with PATH and HOME set when absent.
func WithDefaults(env []string, u users.User) []string {
	out := append([]string(nil), env...)
	if Getenv(out, "PATH") == "" {
		out = append(out, "PATH="+DefaultPath)
	}
	if _, ok := lookupEnv(out, "HOME"); !ok {
		out = append(out, "HOME="+u.Home)
	}
	return out
}

// Merge returns base overridden by extra (KEY=value entries; the last wins),
// keeping base's order.
func Merge(base, extra []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// Getenv returns key's value in env ("" when absent).
func Getenv(env []string, key string) string {
	v, _ := lookupEnv(env, key)
	return v
}

func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// LookPath finds file the way execvp would for a process whose PATH is
// pathEnv and whose working directory is dir, inside root. Names with a
// slash are taken as they are (relative to dir).
func LookPath(root, file, pathEnv, dir string) (string, error) {
	if strings.Contains(file, "/") {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := executable(root, p); err != nil {
			return "", startErr(file, err)
		}
		return filepath.Join(root, p), nil
	}
	if pathEnv == "" {
		pathEnv = DefaultPath
	}
	var firstErr error
	for d := range strings.SplitSeq(pathEnv, ":") {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		p := filepath.Join(d, file)
		err := executable(root, p)
		if err == nil {
			return filepath.Join(root, p), nil
		}
		if firstErr == nil && !errors.Is(err, os.ErrNotExist) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", startErr(file, firstErr)
	}
	return "", &StartError{Code: ExitNotFound, Err: fmt.Errorf("%q: executable file not found in PATH=%s: %w", file, pathEnv, errdefs.ErrNotFound)}
}

// executable checks p, a path inside root, as execve would after a
// chroot to root.
func executable(root, p string) error {
	fi, err := StatIn(root, p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory: %w", p, os.ErrPermission)
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not executable: %w", p, os.ErrPermission)
	}
	return nil
}

func startErr(file string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return &StartError{Code: ExitNotFound, Err: fmt.Errorf("%q: no such file: %w", file, errdefs.ErrNotFound)}
	}
	return &StartError{Code: ExitNotExecutable, Err: fmt.Errorf("%q: %w", file, err)}
}
