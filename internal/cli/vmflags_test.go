package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
)

func TestParseEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "HOME" {
			return "/home/u", true
		}
		return "", false
	}
	got, err := parseEnv([]string{"A=1", "B=", "HOME", "UNSET", "C=x=y"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"A=1", "B=", "HOME=/home/u", "C=x=y"}; !slices.Equal(got, want) {
		t.Errorf("parseEnv = %q, want %q", got, want)
	}
	for _, bad := range []string{"=v", "A B=1", ""} {
		if _, err := parseEnv([]string{bad}, lookup); err == nil {
			t.Errorf("parseEnv(%q) accepted", bad)
		}
	}
}

func TestVMFlagsSpec(t *testing.T) {
	f := vmFlags{memory: units.Size(units.GiB), ports: []string{"8080:80", "127.0.0.1:53:53/udp"}, network: "", cold: true}
	s, err := f.spec("debian", []string{"sh", "-c", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Cold || s.MemoryMiB != 1024 || len(s.Ports) != 2 || s.Ports[1].Protocol != "udp" || s.Ports[1].HostIP != "127.0.0.1" || s.Cmd[0] != "sh" {
		t.Errorf("spec %+v", s)
	}
	f = vmFlags{restart: "on-failure:2"}
	if s, err = f.spec("debian", nil); err != nil || s.Restart != (api.RestartPolicy{Name: "on-failure", MaxRetries: 2}) {
		t.Errorf("--restart on-failure:2: %+v, %v", s.Restart, err)
	}
	f = vmFlags{restart: "no"}
	if s, err = f.spec("debian", nil); err != nil || s.Restart != (api.RestartPolicy{}) {
		t.Errorf("--restart no: %+v, %v", s.Restart, err)
	}
	f = vmFlags{volumes: []string{"/srv/data:/data:ro", "pg:/db"}, mounts: []string{"type=image,source=/srv/site,target=/www,size=1G"}}
	s, err = f.spec("debian", nil)
	want := []api.Mount{
		{Type: api.MountBind, Source: "/srv/data", Target: "/data", ReadOnly: true},
		{Type: api.MountVolume, Source: "pg", Target: "/db"},
		{Type: api.MountImage, Source: "/srv/site", Target: "/www", SizeBytes: units.GiB},
	}
	if err != nil || !slices.Equal(s.Mounts, want) {
		t.Errorf("mounts %+v, %v; want %+v", s.Mounts, err, want)
	}
	f = vmFlags{network: "netns:/proc/42/ns/net:eth1"}
	if s, err = f.spec("debian", nil); err != nil || s.Network != "netns:/proc/42/ns/net:eth1" {
		t.Errorf("--network netns: %q, %v", s.Network, err)
	}
	for _, tt := range []struct {
		f    vmFlags
		want string
	}{
		{vmFlags{network: "none", ports: []string{"80:80"}}, "--publish needs a network"},
		{vmFlags{network: "host"}, `--network "host"`},
		{vmFlags{network: "netns:/var/run/netns/pod", ports: []string{"80:80"}}, "--publish does not apply with --network netns:/var/run/netns/pod"},
		{vmFlags{network: "netns:pod"}, "not an absolute, clean path"},
		{vmFlags{memory: units.Size(units.MiB + 1)}, "whole MiB"},
		{vmFlags{ports: []string{"notaport"}}, "notaport"},
		{vmFlags{restart: "sometimes"}, `--restart: invalid restart policy "sometimes"`},
		{vmFlags{restart: "on-failure:x"}, "whole number"},
		{vmFlags{volumes: []string{"./data:/data"}}, `-v "./data:/data": host path "./data" is relative`},
		{vmFlags{mounts: []string{"type=image,source=/srv"}}, "no guest path"},
	} {
		if _, err := tt.f.spec("img", nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("spec with %+v: err %v, want %q", tt.f, err, tt.want)
		}
	}
}

func TestSplitVMPath(t *testing.T) {
	for in, want := range map[string][2]string{
		"dev:/etc/hosts": {"dev", "/etc/hosts"},
		"dev:rel":        {"dev", "rel"},
		"/tmp/a:b":       {"", "/tmp/a:b"},
		"./x:y":          {"", "./x:y"},
		"plain":          {"", "plain"},
		":/x":            {"", ":/x"},
	} {
		vm, p := splitVMPath(in)
		if vm != want[0] || p != want[1] {
			t.Errorf("splitVMPath(%q) = %q %q, want %q", in, vm, p, want)
		}
	}
}

func TestSSHConfig(t *testing.T) {
	got := sshConfig([]string{"dev"}, "/usr/bin/banger", "unix:///run/banger/banger.sock", "/home/u/.config/banger/known_hosts")
	for _, want := range []string{
		"Host dev dev.banger\n",
		"ProxyCommand /usr/bin/banger --host unix:///run/banger/banger.sock proxy dev\n",
		"HostKeyAlias banger-daemon\n",
		"UserKnownHostsFile /home/u/.config/banger/known_hosts\n",
		"StrictHostKeyChecking yes\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ssh config lacks %q:\n%s", want, got)
		}
	}
	if q := sshConfig([]string{"x"}, "/opt/my tools/banger", "unix:///s", "/k"); !strings.Contains(q, `ProxyCommand "/opt/my tools/banger"`) {
		t.Errorf("a path with a space must be quoted:\n%s", q)
	}
}

// --timings prints each phase's milliseconds and, once the VM booted,
// how ("boot": "cold" or "restored"), in one JSON line.
func TestTimingsJSON(t *testing.T) {
	for _, tc := range []struct {
		boot, want string
	}{
		{"restored", `{"boot":"restored","restore":12.5,"total":40}`},
		{"", `{"restore":12.5,"total":40}`},
	} {
		if got := timingsJSON(map[string]float64{"restore": 12.5, "total": 40}, tc.boot); got != tc.want {
			t.Errorf("boot %q: %s, want %s", tc.boot, got, tc.want)
		}
	}
}

// --std*-file paths reach the spec absolute: the daemon refuses relative
// ones, and the CLI runs on its host.
func TestStdioFilesAreAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	wd, _ := os.Getwd()
	f := vmFlags{stdio: [3]string{"", "out.log", "/run/x/err"}}
	s, err := f.spec("busybox", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (api.Stdio{Stdout: filepath.Join(wd, "out.log"), Stderr: "/run/x/err"}); s.Stdio != want {
		t.Errorf("stdio %+v, want %+v", s.Stdio, want)
	}
}
