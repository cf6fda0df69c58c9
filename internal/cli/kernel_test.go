package cli_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/cli"
	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon/daemontest"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/api"
)

func mustRun(t *testing.T, host string, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, host, args...)
	if code != 0 {
		t.Fatalf("banger %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func kernels(t *testing.T, host string) map[string]api.Kernel {
	t.Helper()
	var ks []api.Kernel
	if err := json.Unmarshal([]byte(mustRun(t, host, "kernel", "ls", "--format", "json")), &ks); err != nil {
		t.Fatal(err)
	}
	m := map[string]api.Kernel{}
	for _, k := range ks {
		m[k.Name] = k
	}
	return m
}

// TestKernelCatalogEndToEnd drives the kernel commands against a real
// daemon: import (path and upload), default handling, ls and inspect in
// both formats, refusals, rm refused while a VM uses the kernel.
func TestKernelCatalogEndToEnd(t *testing.T) {
	t.Setenv(imagepull.EnvAgent, testutil.RequireBinary(t, "busybox", "busybox-static"))
	td := daemontest.Start(t)
	src := t.TempDir()

	// A Firecracker-style vmlinux with its config beside it.
	fc := filepath.Join(src, "vmlinux-6.1.155")
	kctest.WriteFile(t, fc, kctest.ELF("6.1.155", false, nil))
	kctest.WriteFile(t, fc+".config", []byte(kctest.BuiltinConfig))
	out := mustRun(t, td.Host, "kernel", "import", fc, "--name", "fc")
	if !strings.Contains(out, "kernel fc (6.1.155) added, default") {
		t.Fatalf("import output %q (the first kernel becomes the default)", out)
	}

	// A distro tree whose drivers are modules, made the default.
	tree := filepath.Join(src, "tree")
	kctest.WriteDistroTree(t, tree, "6.1.0-7-cloud-amd64", "6.1.0-7-cloud-amd64")
	out = mustRun(t, td.Host, "kernel", "import", tree, "--default")
	if !strings.Contains(out, "kernel 6.1.0-7-cloud-amd64 (6.1.0-7-cloud-amd64) added, initramfs with 13 modules, default") {
		t.Fatalf("import output %q", out)
	}
	ks := kernels(t, td.Host)
	if len(ks) != 2 || ks["fc"].Default || !ks["6.1.0-7-cloud-amd64"].Default {
		t.Fatalf("after import --default: %+v", ks)
	}
	distro := ks["6.1.0-7-cloud-amd64"]
	if !strings.HasPrefix(distro.Initrd, td.Layout.Kernel(distro.Name)+"/") {
		t.Fatalf("initrd %s is not under the layout's kernel dir", distro.Initrd)
	}

	table := mustRun(t, td.Host, "kernel", "ls")
	for _, want := range []string{"NAME", "fc", "6.1.155", "6.1.0-7-cloud-amd64", "13 modules (zstd)", "vmlinux, bzImage"} {
		if !strings.Contains(table, want) {
			t.Errorf("kernel ls lacks %q:\n%s", want, table)
		}
	}

	var inspected []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, td.Host, "kernel", "inspect", distro.Name, "--format", "json")), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("kernel inspect --format json: %v, %d kernels; want an array of one", err, len(inspected))
	}
	k := inspected[0]
	for _, key := range []string{"name", "version", "vmlinux", "bzimage", "initrd", "modules", "checks"} {
		if _, ok := k[key]; !ok {
			t.Errorf("inspect JSON has no %q: %v", key, k)
		}
	}
	if k["modules"].(float64) != 13 {
		t.Errorf("modules = %v", k["modules"])
	}
	text := mustRun(t, td.Host, "kernel", "inspect", "fc")
	for _, want := range []string{"CONFIG_VIRTIO_BLK", "builtin, essential", "PVH entry:", "Initramfs:"} {
		if !strings.Contains(text, want) {
			t.Errorf("kernel inspect lacks %q:\n%s", want, text)
		}
	}

	// Upload: a tarball sent as the request body.
	tarball := filepath.Join(src, "fc.tar")
	kctest.WriteFile(t, tarball, kctest.TarFiles(t, map[string][]byte{
		"boot/vmlinux-6.1.155": kctest.ELF("6.1.155", false, nil), "boot/config-6.1.155": []byte(kctest.BuiltinConfig)}))
	mustRun(t, td.Host, "kernel", "import", "--upload", tarball, "--name", "fc-up")
	if up, ok := kernels(t, td.Host)["fc-up"]; !ok || up.Source == "" || up.Default {
		t.Fatalf("uploaded kernel: %+v", up)
	}
	if left, _ := filepath.Glob(filepath.Join(td.Layout.Tmp(), "*")); len(left) != 0 {
		t.Fatalf("scratch left in %s: %v", td.Layout.Tmp(), left)
	}

	// Refusals name the problem.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"kernel", "import", fc, "--name", "fc"}, `kernel "fc" already exists`},
		{[]string{"kernel", "import", filepath.Join(src, "missing")}, "missing does not exist"},
		{[]string{"kernel", "inspect", "nope"}, `kernel "nope": not found`},
		{[]string{"kernel", "rm", "nope"}, `kernel "nope": not found`},
		{[]string{"kernel", "pull", "no-such-kernel"}, "is not a catalog kernel"},
		{[]string{"kernel", "ls", "--format", "yaml"}, `--format "yaml"`},
		{[]string{"kernel", "import", "--upload", fc, "--config", fc + ".config"}, "--config and --modules name paths on the daemon's host"},
	} {
		_, errOut, code := run(t, td.Host, tc.args...)
		if code != cli.ExitBanger || !strings.Contains(errOut, tc.want) {
			t.Errorf("banger %s: exit %d, stderr %q, want %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}

	// rm is refused while a VM uses the kernel, by name or as the default.
	td.Stop(t)
	st, err := store.Open(td.Layout.Database())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(store.VMs, "vm1", api.VM{ID: "vm1", Name: "web", Spec: api.VMSpec{Kernel: "fc"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(store.VMs, "vm2", api.VM{ID: "vm2", Name: "db"}); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	td = daemontest.StartAt(t, td.Layout)
	for name, vm := range map[string]string{"fc": "web", distro.Name: "db"} {
		_, errOut, code := run(t, td.Host, "kernel", "rm", name)
		if code != cli.ExitBanger || !strings.Contains(errOut, "is used by VM "+vm) {
			t.Errorf("rm %s: exit %d, stderr %q", name, code, errOut)
		}
	}
	td.Stop(t)
	st, err = store.Open(td.Layout.Database())
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Delete(store.VMs, "vm1")
	_ = st.Delete(store.VMs, "vm2")
	_ = st.Close()
	td = daemontest.StartAt(t, td.Layout)
	mustRun(t, td.Host, "kernel", "rm", "fc", distro.Name)
	if _, err := os.Stat(td.Layout.Kernel("fc")); !os.IsNotExist(err) {
		t.Fatalf("kernel dir left after rm: %v", err)
	}
	if ks := kernels(t, td.Host); len(ks) != 1 {
		t.Fatalf("after rm: %v", ks)
	}
}

// TestKernelConfigDefaultOverrides: config kernel.default wins over the
// record's flag.
func TestKernelConfigDefaultOverrides(t *testing.T) {
	td := daemontest.Start(t, func(c *config.Config) { c.Kernel.Default = "b" })
	src := t.TempDir()
	fc := filepath.Join(src, "vmlinux")
	kctest.WriteFile(t, fc, kctest.ELF("6.1.1", false, nil))
	kctest.WriteFile(t, fc+".config", []byte(kctest.BuiltinConfig))
	mustRun(t, td.Host, "kernel", "import", fc, "--name", "a", "--default")
	mustRun(t, td.Host, "kernel", "import", fc, "--name", "b")
	ks := kernels(t, td.Host)
	if ks["a"].Default || !ks["b"].Default {
		t.Fatalf("kernel.default = b, yet %+v", ks)
	}
}

func TestKernelPullURL(t *testing.T) {
	td := daemontest.Start(t)
	elf := kctest.ELF("6.1.2", false, nil)
	data := kctest.TarFiles(t, map[string][]byte{"boot/vmlinux-6.1.2": elf, "boot/config-6.1.2": []byte(kctest.BuiltinConfig)})
	sum := sha256.Sum256(data)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "k.tar", time.Time{}, strings.NewReader(string(data)))
	}))
	defer srv.Close()
	_, errOut, code := run(t, td.Host, "kernel", "pull", srv.URL+"/k.tar")
	if code != cli.ExitBanger || !strings.Contains(errOut, "--sha256") {
		t.Fatalf("pull without --sha256: exit %d %q", code, errOut)
	}
	out := mustRun(t, td.Host, "kernel", "pull", srv.URL+"/k.tar", "--sha256", hex.EncodeToString(sum[:]), "--name", "web")
	if !strings.Contains(out, "kernel web (6.1.2) added") {
		t.Fatalf("pull output %q", out)
	}
	k, err := api.Do(context.Background(), td.Client, api.GetKernel, api.None{}, "web")
	if err != nil || k.Source != "pull:"+srv.URL+"/k.tar" {
		t.Fatalf("record %+v, %v", k, err)
	}
}

// TestKernelPullFromOCIImage: `banger kernel pull REF` takes a kernel
// packaged in an OCI image (/boot and /lib/modules), through the image
// pipeline's pull and flatten, from a registry on loopback.
func TestKernelPullFromOCIImage(t *testing.T) {
	t.Setenv(imagepull.EnvAgent, testutil.RequireBinary(t, "busybox", "busybox-static"))
	td := daemontest.Start(t)
	tree := t.TempDir()
	const rel = "6.1.0-99-test-amd64"
	kctest.WriteDistroTree(t, tree, rel, rel+" SMP mod_unload")
	layer, err := registrytest.LayerFromTar(kctest.TarTree(t, tree, ""), registrytest.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	img, err := registrytest.NewImage([]v1.Layer{layer})
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t)
	reg.Push(t, "kernels/test:6.1", img)

	mustRun(t, td.Host, "kernel", "pull", reg.Ref("kernels/test:6.1"), "--name", "oci-kernel")
	k := kernels(t, td.Host)["oci-kernel"]
	if k.Version != rel || k.Initrd == "" || k.Modules == 0 || !strings.HasPrefix(k.Source, "pull:") {
		t.Fatalf("kernel from the OCI image: %+v", k)
	}
	// A plain word is a catalog name, never a Docker Hub lookup.
	_, errOut, code := run(t, td.Host, "kernel", "pull", "no-such-kernel")
	if code != cli.ExitBanger || !strings.Contains(errOut, "is not a catalog kernel") {
		t.Fatalf("unknown catalog name: exit %d, %q", code, errOut)
	}
}
