package dist

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/testutil"
)

// installed runs `make install DESTDIR=dest PREFIX=/usr` once for the
// package's tests (it builds the binaries and man pages: tens of seconds).
var installed struct {
	dest string
	err  error
	out  []byte
}

func install(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and installs banger (make install): not in -short")
	}
	testutil.RequireBinary(t, "make", "make")
	if installed.dest == "" && installed.err == nil {
		dest, err := os.MkdirTemp("", "bginst") //nolint:usetesting // shared by the package's tests, removed in TestMain
		if err != nil {
			t.Fatal(err)
		}
		installed.dest = dest
		cmd := exec.CommandContext(t.Context(), "make", "install", "DESTDIR="+dest, "PREFIX=/usr")
		cmd.Dir = testutil.RepoRoot(t)
		installed.out, installed.err = cmd.CombinedOutput()
	}
	if installed.err != nil {
		t.Fatalf("make install: %v\n%s", installed.err, installed.out)
	}
	return installed.dest
}

func TestMain(m *testing.M) {
	code := m.Run()
	if installed.dest != "" {
		_ = os.RemoveAll(installed.dest)
	}
	os.Exit(code)
}

// TestUnitsVerify: systemd-analyze verify finds nothing to say about the
// installed units — no unknown key, no value it would ignore, the
// ExecStart binary executable, the man page they name installed — and
// they say what the daemon relies on.
func TestUnitsVerify(t *testing.T) {
	analyze := testutil.RequireBinary(t, "systemd-analyze", "systemd")
	dest := install(t)
	// verify wants ExecStart's binary on this host: point the unit at the
	// installed one; nothing else changes.
	dir := t.TempDir()
	for _, u := range []string{"banger.service", "banger.socket"} {
		b, err := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/system", u))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("ExecStart=/usr/bin/"), []byte("ExecStart="+dest+"/usr/bin/"))
		if err := os.WriteFile(filepath.Join(dir, u), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), analyze, "verify", filepath.Join(dir, "banger.socket"), filepath.Join(dir, "banger.service"))
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dest, "usr/share/man"))
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	service, socket := unit(t, filepath.Join(dir, "banger.service")), unit(t, filepath.Join(dir, "banger.socket"))
	for key, want := range map[string]string{
		"Type": "notify", "KillMode": "process", "Requires": "banger.socket", "NotifyAccess": "main",
	} {
		if got := service[key]; !slices.Contains(got, want) {
			t.Errorf("banger.service %s=%q, want %q", key, got, want)
		}
	}
	for key, want := range map[string]string{
		"ListenStream": paths.Default().Socket, "SocketMode": "0660", "SocketGroup": config.Default().Daemon.SocketGroup,
	} {
		if got := socket[key]; !slices.Equal(got, []string{want}) {
			t.Errorf("banger.socket %s=%q, want %q", key, got, want)
		}
	}
}

// TestInstallLayout: make install DESTDIR=… PREFIX=/usr lays out every
// file where its consumer looks (PATH, systemd, bash-completion, zsh,
// fish, man), the unit names the installed binary, and the installed
// daemon finds the installed agent on its own (doctor's guest agent
// check); make uninstall then leaves no file behind.
func TestInstallLayout(t *testing.T) {
	dest := install(t)
	want := map[string]string{ // path under DESTDIR: what it must contain
		"usr/bin/banger":                                  "",
		"usr/bin/containerd-shim-banger-v2":               "",
		"usr/lib/banger/banger-agent":                     "",
		"usr/lib/systemd/system/banger.service":           "ExecStart=/usr/bin/banger daemon\n",
		"usr/lib/systemd/system/banger.socket":            "ListenStream=" + paths.Default().Socket + "\n",
		"usr/share/bash-completion/completions/banger":    "complete -o default -F __start_banger banger",
		"usr/share/zsh/site-functions/_banger":            "#compdef banger",
		"usr/share/fish/vendor_completions.d/banger.fish": "complete -c banger",
		"usr/share/man/man1/banger.1":                     ".TH",
		"usr/share/man/man1/banger-daemon.1":              "LISTEN_FDS",
		"usr/share/man/man1/banger-setup.1":               "systemctl enable --now banger.socket",
	}
	for rel, has := range want {
		p := filepath.Join(dest, rel)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if !strings.Contains(string(b), has) {
			t.Errorf("%s does not contain %q", rel, has)
		}
		if fi, _ := os.Stat(p); strings.Contains(rel, "bin/") || strings.HasSuffix(rel, "banger-agent") {
			if fi.Mode().Perm() != 0o755 {
				t.Errorf("%s: mode %v, want 0755", rel, fi.Mode())
			}
		} else if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", rel, fi.Mode())
		}
	}
	agentFound(t, filepath.Join(dest, "usr/bin/banger"), filepath.Join(dest, "usr/lib/banger/banger-agent"))

	cmd := exec.CommandContext(t.Context(), "make", "uninstall", "DESTDIR="+dest, "PREFIX=/usr")
	cmd.Dir = testutil.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	var left []string
	_ = filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, strings.TrimPrefix(p, dest))
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("make uninstall left %q", left)
	}
	_ = os.RemoveAll(dest)
	installed.dest = "" // a later test installs again
}

// agentFound starts the installed daemon on a scratch root, with no agent
// configured, and asks doctor which agent it would inject.
func agentFound(t *testing.T, banger, agent string) {
	t.Helper()
	root, err := os.MkdirTemp("", "bgia") //nolint:usetesting // short socket path
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(root) }()
	cfg := testutil.Config("", "bgi", "bangerinst_", 217)
	cfg.QEMU.Accel = "tcg"
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "config.toml")
	if err := os.WriteFile(conf, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	d := exec.Command(banger, "daemon", "--root", root, "--config", conf) //nolint:noctx // stopped below
	d.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "BANGER_AGENT=") })
	d.Stdout, d.Stderr = &log, &log
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Process.Kill(); _ = d.Wait() }()
	host := "unix://" + paths.Rooted(root).Socket
	var rep struct {
		Checks []struct {
			Name, Detail string
			OK           bool
		} `json:"checks"`
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		out, err := exec.CommandContext(ctx, banger, "--host", host, "doctor", "--format", "json").Output()
		cancel()
		if err == nil && json.Unmarshal(out, &rep) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the installed daemon did not answer doctor: %v\n%s", err, log.String())
		}
	}
	for _, c := range rep.Checks {
		if c.Name == "guest agent" {
			if !c.OK || c.Detail != agent {
				t.Errorf("the installed daemon's guest agent: ok %v, %q; want %s", c.OK, c.Detail, agent)
			}
			return
		}
	}
	t.Errorf("doctor has no guest agent check: %+v", rep.Checks)
}

// unit reads a unit file's assignments (every value of each key).
func unit(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			out[k] = append(out[k], v)
		}
	}
	return out
}
