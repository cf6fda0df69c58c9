package fctest

import (
	"bytes"
	"strings"
	"testing"
)

func TestMainFlags(t *testing.T) {
	t.Setenv(EnvSpec, "")
	tests := []struct {
		args       []string
		code       int
		out, errTx string
	}{
		{[]string{"--version"}, 0, "Firecracker v1.16.1", ""},
		{[]string{"--api-sock"}, 153, "", "requires a value"},
		{[]string{"--bogus"}, 153, "", "Found argument '--bogus'"},
		{[]string{"--id", "a", "--id=b"}, 153, "", "more than once"},
		{[]string{"--id=bad/id"}, 153, "", "Invalid instance ID"},
		{[]string{"--config-file", "/x"}, 1, "", "not emulated"},
		{[]string{"--id=ok", "--api-sock", "/tmp/x.sock", "--boot-timer"}, 1, "", "FCTEST_SPEC is not set"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := Main(tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.errTx) {
			t.Errorf("Main(%q) = %d, out %q, err %q", tt.args, code, out.String(), errb.String())
		}
	}
}

func TestJailerFlags(t *testing.T) {
	base := []string{"--id", "vm-1", "--exec-file", "/usr/bin/firecracker", "--uid", "0", "--gid", "0"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--id", "vm-1"}, "missing argument: --exec-file"},
		{append(append([]string{}, base[:3]...), "/usr/bin/fc", "--uid", "0", "--gid", "0"), "must contain \"firecracker\""},
		{append(append([]string{}, base[:3]...), "firecracker", "--uid", "0", "--gid", "0"), "absolute path"},
		{append(append([]string{}, base...), "--cgroup-version", "3"), "want 1 or 2"},
		{append(append([]string{}, base...), "--netns", "/nonexistent/ns"), "netns /nonexistent/ns"},
		{append(append([]string{}, base...), "--cgroup", "cpu.weight"), "want key=value"},
		{append(append([]string{}, base...), "--new-pid-ns"), "not emulated"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := JailerMain(tt.args, &out, &errb); code == 0 || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("JailerMain(%q) = %d, %q; want %q", tt.args, code, errb.String(), tt.want)
		}
	}
}
