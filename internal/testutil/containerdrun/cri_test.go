package containerdrun

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestCRIConfig: the CRI configuration is valid TOML of config version 4
// whose sockets, directories and CNI directories are all the containerd's
// own (under dir, beside sock), the sandbox image pinned as given, the
// handler banger on the banger shim, and the stream server on a free
// loopback port; TaskConfig keeps the CRI plugin off.
func TestCRIConfig(t *testing.T) {
	dir, sock := "/tmp/bgctrd1", "/tmp/bgctrd1/containerd.sock"
	var cfg struct {
		Version     int
		Root, State string
		Plugins     map[string]map[string]any
	}
	if _, err := toml.Decode(CRIConfig("127.0.0.1:5000/pause:1")(dir, sock), &cfg); err != nil {
		t.Fatal(err)
	}
	get := func(plugin string, path ...string) any {
		var v any = cfg.Plugins[plugin]
		for _, k := range path {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	for _, c := range []struct {
		got, want any
	}{
		{cfg.Version, 4},
		{cfg.Root, dir + "/root"},
		{cfg.State, dir + "/state"},
		{get("io.containerd.server.v1.grpc", "address"), sock},
		{get("io.containerd.server.v1.ttrpc", "address"), sock + ".ttrpc"},
		{get("io.containerd.server.v1.debug", "address"), sock + ".debug"},
		{get("io.containerd.internal.v1.opt", "path"), dir + "/opt"},
		{get("io.containerd.cri.v1.images", "pinned_images", "sandbox"), "127.0.0.1:5000/pause:1"},
		{get("io.containerd.cri.v1.runtime", "containerd", "runtimes", "banger", "runtime_type"), "io.containerd.banger.v2"},
		{get("io.containerd.cri.v1.runtime", "cni", "conf_dir"), dir + "/cni"},
		{get("io.containerd.cri.v1.runtime", "disable_apparmor"), true},
		{get("io.containerd.grpc.v1.cri", "stream_server_address"), "127.0.0.1"},
		{get("io.containerd.grpc.v1.cri", "stream_server_port"), "0"},
	} {
		if c.got != c.want {
			t.Errorf("got %v, want %v", c.got, c.want)
		}
	}
	if bins, _ := get("io.containerd.cri.v1.runtime", "cni", "bin_dirs").([]any); !slices.Equal(bins, []any{dir + "/cni"}) {
		t.Errorf("cni bin_dirs %v, want [%s/cni]", bins, dir)
	}
	if task := TaskConfig(dir, sock); !strings.Contains(task, `"io.containerd.grpc.v1.cri"`) || !strings.Contains(task, "disabled_plugins") {
		t.Errorf("TaskConfig does not disable the CRI plugin:\n%s", task)
	}
}

// TestCrictlConfig: crictl's configuration, in the containerd's
// directory, points both endpoints at its socket with a timeout longer
// than a VM's boot; Run passes it to crictl before the arguments.
func TestCrictlConfig(t *testing.T) {
	dir := t.TempDir()
	c := &Containerd{Dir: dir, Sock: filepath.Join(dir, "containerd.sock")}
	cc, err := c.Crictl("/bin/echo")
	if err != nil {
		t.Fatal(err)
	}
	yaml, err := os.ReadFile(cc.Config)
	if err != nil || filepath.Dir(cc.Config) != dir {
		t.Fatalf("config %s: %v", cc.Config, err)
	}
	want := "runtime-endpoint: unix://" + c.Sock + "\nimage-endpoint: unix://" + c.Sock + "\ntimeout: 300\n"
	if string(yaml) != want {
		t.Errorf("crictl.yaml:\n%s\nwant:\n%s", yaml, want)
	}
	if out, _, code := cc.Run(t.Context(), "pods", "-q"); code != 0 || out != "--config "+cc.Config+" pods -q\n" {
		t.Errorf("Run through echo: %q, exit %d", out, code)
	}
}
