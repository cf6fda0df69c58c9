package containerdrun

import (
	"encoding/json"
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

// TestCRIConfigCNI: a CNI network puts containerd's CNI plugin
// directory and configuration directory where it says; the bridge's
// configuration list is CNI 1.0.0 JSON naming the bridge, its gateway,
// the subnet and the IPAM directory, and WriteBridge puts it in the
// configuration directory as a .conflist containerd loads.
func TestCRIConfigCNI(t *testing.T) {
	var cfg struct {
		Plugins map[string]struct {
			CNI struct {
				BinDirs []string `toml:"bin_dirs"`
				ConfDir string   `toml:"conf_dir"`
			} `toml:"cni"`
		}
	}
	n := CNI{BinDir: "/repo/.tools/cni-v1", ConfDir: "/tmp/t1/cni"}
	if _, err := toml.Decode(CRIConfigCNI("127.0.0.1:5000/pause:1", n)("/tmp/bgctrd1", "/tmp/bgctrd1/containerd.sock"), &cfg); err != nil {
		t.Fatal(err)
	}
	got := cfg.Plugins["io.containerd.cri.v1.runtime"].CNI
	if !slices.Equal(got.BinDirs, []string{n.BinDir}) || got.ConfDir != n.ConfDir {
		t.Errorf("cni bin_dirs %v, conf_dir %q; want [%s], %s", got.BinDirs, got.ConfDir, n.BinDir, n.ConfDir)
	}

	dir := t.TempDir()
	b := Bridge{Name: "bgcni1", Bridge: "bgcni1", Subnet: "10.221.7.0/24", IPAMDir: "/tmp/t1/ipam"}
	if err := WriteBridge(dir, b); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "10-bgcni1.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		CNIVersion string `json:"cniVersion"`
		Name       string
		Plugins    []struct {
			Type      string
			Bridge    string
			IsGateway bool `json:"isGateway"`
			IPMasq    bool `json:"ipMasq"`
			IPAM      struct {
				Type    string
				Ranges  [][]struct{ Subnet string }
				DataDir string `json:"dataDir"`
			}
		}
	}
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if list.CNIVersion != "1.0.0" || list.Name != b.Name || len(list.Plugins) != 2 || list.Plugins[1].Type != "loopback" {
		t.Fatalf("conflist %s", data)
	}
	br := list.Plugins[0]
	if br.Type != "bridge" || br.Bridge != b.Bridge || !br.IsGateway || br.IPMasq || br.IPAM.Type != "host-local" ||
		len(br.IPAM.Ranges) != 1 || len(br.IPAM.Ranges[0]) != 1 || br.IPAM.Ranges[0][0].Subnet != b.Subnet || br.IPAM.DataDir != b.IPAMDir {
		t.Errorf("bridge plugin %+v, want %+v", br, b)
	}
}
