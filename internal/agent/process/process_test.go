package process

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bangerdev/banger/internal/agent/users"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func writeExe(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
}

func TestLookPathUsesTheProcessPath(t *testing.T) {
	root := t.TempDir()
	writeExe(t, filepath.Join(root, "opt/app/bin/tool"), 0o755)
	writeExe(t, filepath.Join(root, "usr/bin/tool"), 0o755)
	writeExe(t, filepath.Join(root, "usr/bin/noexec"), 0o644)
	writeExe(t, filepath.Join(root, "work/rel"), 0o755)
	tests := []struct {
		file, path, dir string
		want            string
		code            int
	}{
		{"tool", "/opt/app/bin:/usr/bin", "/", "opt/app/bin/tool", 0},
		{"tool", "/usr/bin:/opt/app/bin", "/", "usr/bin/tool", 0},
		{"tool", "", "/", "usr/bin/tool", 0}, // DefaultPath
		{"./rel", "", "/work", "work/rel", 0},
		{"/usr/bin/tool", "/nowhere", "/", "usr/bin/tool", 0},
		{"missing", "/usr/bin", "/", "", ExitNotFound},
		{"noexec", "/usr/bin", "/", "", ExitNotExecutable},
		{"/usr/bin/noexec", "", "/", "", ExitNotExecutable},
		{"/nope", "", "/", "", ExitNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.file+"@"+tt.path, func(t *testing.T) {
			got, err := LookPath(root, tt.file, tt.path, tt.dir)
			if tt.code != 0 {
				var se *StartError
				if !errors.As(err, &se) || se.Code != tt.code {
					t.Fatalf("LookPath = %q, %v; want StartError code %d", got, err, tt.code)
				}
				return
			}
			if err != nil || got != filepath.Join(root, tt.want) {
				t.Fatalf("LookPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	got := Merge([]string{"A=1", "PATH=/x", "B=2"}, []string{"B=3", "C=4", "A=5"})
	want := []string{"A=5", "PATH=/x", "B=3", "C=4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge = %v, want %v", got, want)
	}
	env := WithDefaults([]string{"X=1"}, userHome("/home/app"))
	if Getenv(env, "PATH") != DefaultPath || Getenv(env, "HOME") != "/home/app" || Getenv(env, "X") != "1" {
		t.Errorf("WithDefaults = %v", env)
	}
	env = WithDefaults([]string{"PATH=/mine", "HOME="}, userHome("/home/app"))
	if Getenv(env, "PATH") != "/mine" || len(env) != 2 {
		t.Errorf("WithDefaults must keep what is set (even an empty HOME): %v", env)
	}
}

func TestCommand(t *testing.T) {
	root := t.TempDir()
	writeExe(t, filepath.Join(root, "bin/app"), 0o755)
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), nil, 0o644); err != nil {
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("app:x:4321:4321::/home/app:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, u, err := Command(root, Spec{Argv: []string{"app", "-x"}, Env: []string{"PATH=/bin"}, Dir: "/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Path != filepath.Join(root, "bin/app") || !reflect.DeepEqual(cmd.Args, []string{"app", "-x"}) || cmd.Dir != "/tmp" || u.UID != 0 {
		t.Errorf("Command = %q %v in %q as %+v", cmd.Path, cmd.Args, cmd.Dir, u)
	}
	if Getenv(cmd.Env, "HOME") != "/root" {
		t.Errorf("root's HOME = %q", Getenv(cmd.Env, "HOME"))
	}
	cmd, _, err = Command(root, Spec{Argv: []string{"app"}, User: "app"})
	if os.Geteuid() == 0 {
		if err != nil || cmd.SysProcAttr.Credential == nil || cmd.SysProcAttr.Credential.Uid != 4321 {
			t.Fatalf("as root, user app: %v, %+v", err, cmd)
		}
	} else if !errors.Is(err, errdefs.ErrUnsupported) {
		t.Fatalf("unprivileged agent asked for another user: %v", err)
	}
	if _, _, err := Command(root, Spec{}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("empty argv: %v", err)
	}
	if _, _, err := Command(root, Spec{Argv: []string{"app"}, User: "ghost"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

func userHome(h string) users.User { return users.User{Home: h} }

// TestStartCodeFromTheCause starts real files that LookPath accepts but
// execve refuses, and checks the status comes from execve's errno: a
// script whose interpreter is missing (ENOENT) is not found, garbage with
// the executable bit (ENOEXEC) is not executable.
func TestStartCodeFromTheCause(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"badinterp": "#!/nonexistent/interpreter\n",
		"garbage":   "\x00\x01\x02 not a program",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		argv []string
		dir  string
		want int
	}{
		{[]string{filepath.Join(dir, "badinterp")}, "/", ExitNotFound},
		{[]string{filepath.Join(dir, "garbage")}, "/", ExitNotExecutable},
		{[]string{filepath.Join(dir, "missing")}, "/", ExitNotFound},
		{[]string{"/bin/true"}, filepath.Join(dir, "no-such-dir"), ExitNotExecutable},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.argv[0]), func(t *testing.T) {
			cmd, _, err := Command("/", Spec{Argv: tt.argv, Dir: tt.dir})
			if err == nil {
				err = cmd.Start()
				if err == nil {
					_ = cmd.Wait()
					t.Fatalf("%v started; want a start failure", tt.argv)
				}
			}
			if got := StartCode(err); got != tt.want {
				t.Errorf("StartCode(%v) = %d, want %d", err, got, tt.want)
			}
		})
	}
	if got := StartCode(errors.New("some other failure")); got != ExitNotExecutable {
		t.Errorf("StartCode(plain error) = %d, want %d", got, ExitNotExecutable)
	}
}

// A chrooted process is resolved inside its root and given the paths it
// sees after chroot(2): argv[0] and the working directory relative to the
// root, the root itself in SysProcAttr.
func TestCommandChroot(t *testing.T) {
	guest := t.TempDir()
	writeExe(t, filepath.Join(guest, "ctr/rootfs/usr/bin/tool"), 0o755)
	if err := os.MkdirAll(filepath.Join(guest, "ctr/rootfs/work"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, _, err := Command(guest, Spec{Argv: []string{"tool"}, Dir: "/work", Chroot: "/ctr/rootfs"})
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Path != "/usr/bin/tool" || cmd.Dir != "/work" || cmd.SysProcAttr.Chroot != filepath.Join(guest, "ctr/rootfs") {
		t.Errorf("chrooted command: path %q, dir %q, chroot %q", cmd.Path, cmd.Dir, cmd.SysProcAttr.Chroot)
	}
	for _, tt := range []struct {
		chroot string
		code   int
	}{
		{"ctr/rootfs", 0}, // relative: invalid, not a start error
		{"/ctr/missing", ExitNotExecutable},
	} {
		_, _, err := Command(guest, Spec{Argv: []string{"tool"}, Chroot: tt.chroot})
		var se *StartError
		switch {
		case tt.code == 0 && !errors.Is(err, errdefs.ErrInvalid):
			t.Errorf("chroot %q: %v, want ErrInvalid", tt.chroot, err)
		case tt.code != 0 && (!errors.As(err, &se) || se.Code != tt.code):
			t.Errorf("chroot %q: %v, want a StartError %d", tt.chroot, err, tt.code)
		}
	}
}
