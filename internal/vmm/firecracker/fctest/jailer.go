package fctest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// jailerFlags are the jailer v1.16.1's flags; true means it takes a value.
// --cgroup and --resource-limit may repeat.
var jailerFlags = map[string]bool{
	"id": true, "exec-file": true, "uid": true, "gid": true, "parent-cgroup": true,
	"cgroup-version": true, "cgroup": true, "chroot-base-dir": true, "netns": true,
	"resource-limit": true, "daemonize": false, "new-pid-ns": false, "version": false,
	"help": false,
}

// JailerMain runs the fake jailer. It validates the jailer's flags, builds
// <chroot-base-dir>/<exec file name>/<id>/root, copies the exec file into
// it and execs that copy with --id and the start-time flags plus the
// arguments after "--", as the real jailer does — in the same process, so
// the pid the caller started is Firecracker's. It does not chroot, join a
// netns, change uid or create cgroups (that needs privileges a test should
// not use); the fake firecracker instead resolves every path under the
// jail root (EnvRoot), so a path banger forgot to make jail-relative fails
// as it would in a real jail. Like the real jailer it clears the
// environment, keeping only the fake's own FCTEST_ variables.
func JailerMain(args []string, stdout, stderr io.Writer) int {
	var repeated []string
	var clean []string
	for i := 0; i < len(args); i++ { // --cgroup and --resource-limit repeat
		if (args[i] == "--cgroup" || args[i] == "--resource-limit") && i+1 < len(args) {
			repeated = append(repeated, args[i]+"="+args[i+1])
			i++
			continue
		}
		if args[i] == "--" {
			clean = append(clean, args[i:]...)
			break
		}
		clean = append(clean, args[i])
	}
	flags, extra, err := parseFlags(clean, jailerFlags)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "Jailer error: %v\n", err)
		return exitArgParse
	}
	if _, v := flags["version"]; v {
		_, _ = fmt.Fprintf(stdout, "Jailer v%s\n", specVersion(os.Getenv(EnvSpec)))
		return exitOK
	}
	if err := checkJailerFlags(flags, repeated); err != nil {
		_, _ = fmt.Fprintf(stderr, "Jailer error: %v\n", err)
		return exitGeneric
	}
	for _, f := range []string{"daemonize", "new-pid-ns"} {
		if _, set := flags[f]; set {
			_, _ = fmt.Fprintf(stderr, "fctest jailer: --%s is not emulated\n", f)
			return exitGeneric
		}
	}
	exec := flags["exec-file"]
	base := flags["chroot-base-dir"]
	if base == "" {
		base = "/srv/jailer"
	}
	root := filepath.Join(base, filepath.Base(exec), flags["id"], "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		_, _ = fmt.Fprintf(stderr, "Jailer error: create chroot dir: %v\n", err)
		return exitGeneric
	}
	target := filepath.Join(root, filepath.Base(exec))
	if err := copyFile(exec, target); err != nil {
		_, _ = fmt.Fprintf(stderr, "Jailer error: copy exec file: %v\n", err)
		return exitGeneric
	}
	now := strconv.FormatInt(time.Now().UnixMicro(), 10)
	argv := append([]string{filepath.Base(exec), "--id=" + flags["id"], "--start-time-us=" + now, "--start-time-cpu-us=0"}, extra...)
	env := []string{EnvRoot + "=" + root}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "FCTEST_") && !strings.HasPrefix(kv, EnvRoot+"=") {
			env = append(env, kv)
		}
	}
	err = syscall.Exec(target, argv, env) //nolint:gosec // the jailer's whole job
	_, _ = fmt.Fprintf(stderr, "Jailer error: exec %s: %v\n", target, err)
	return exitGeneric
}

func checkJailerFlags(flags map[string]string, repeated []string) error {
	for _, req := range []string{"id", "exec-file", "uid", "gid"} {
		if flags[req] == "" {
			return fmt.Errorf("missing argument: --%s", req)
		}
	}
	if !instanceIDRE.MatchString(flags["id"]) {
		return fmt.Errorf("invalid instance id %q", flags["id"])
	}
	if !strings.Contains(filepath.Base(flags["exec-file"]), "firecracker") {
		return fmt.Errorf("invalid exec file name %q: it must contain \"firecracker\"", flags["exec-file"])
	}
	if !filepath.IsAbs(flags["exec-file"]) {
		return fmt.Errorf("exec file %q: want an absolute path", flags["exec-file"])
	}
	for _, n := range []string{"uid", "gid"} {
		if _, err := strconv.ParseUint(flags[n], 10, 32); err != nil {
			return fmt.Errorf("invalid --%s %q", n, flags[n])
		}
	}
	if v, set := flags["cgroup-version"]; set && v != "1" && v != "2" {
		return fmt.Errorf("invalid cgroup version %q: want 1 or 2", v)
	}
	if ns, set := flags["netns"]; set {
		if _, err := os.Stat(ns); err != nil {
			return fmt.Errorf("netns %s: %w", ns, err)
		}
	}
	for _, r := range repeated {
		if !strings.Contains(strings.SplitN(r, "=", 2)[1], "=") {
			return fmt.Errorf("invalid %s: want key=value", r)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
