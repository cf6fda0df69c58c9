package kernelcat

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/internal/kernelcat/fetch"
	"github.com/bangerdev/banger/internal/kernelcat/kconfig"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestCatalogConfigMatchesFirecrackerReference keeps the embedded config
// of the Firecracker entries in step with Firecracker's guest config.
func TestCatalogConfigMatchesFirecrackerReference(t *testing.T) {
	f, err := os.Open(testutil.SpecPath(t, "firecracker-guest-kernel-x86_64-6.1.config"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	ref, err := kconfig.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range Catalog() {
		if e.Config == "" {
			continue
		}
		raw, err := entryConfig(e)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := kconfig.Parse(bytes.NewReader(raw))
		for _, n := range needs {
			if cfg.State(n.option) != ref.State(n.option) {
				t.Errorf("%s: %s = %s, Firecracker's config says %s", e.Name, n.option, cfg.State(n.option), ref.State(n.option))
			}
		}
		if MissingEssentials(Classify(cfg)) != nil || len(e.SHA256) != 64 || !strings.HasPrefix(e.URL, "https://") {
			t.Errorf("%s: entry %+v", e.Name, e)
		}
	}
}

func serve(t *testing.T, data []byte) (*httptest.Server, string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(data)
	return srv, hex.EncodeToString(sum[:])
}

func pullOpts(t *testing.T, tmp string) PullOptions {
	return PullOptions{Options: Options{Tmp: tmp, Message: func(s string) { t.Log(s) }}, Downloads: filepath.Join(tmp, "dl"),
		Fetch: fetch.Options{Backoff: time.Millisecond}}
}

func TestPullCatalogURLEntry(t *testing.T) {
	tmp := t.TempDir()
	srv, sum := serve(t, kctest.ELF("6.1.155", false, nil))
	e, _ := Lookup("firecracker-6.1")
	e.URL, e.SHA256 = srv.URL+"/vmlinux-6.1.155", sum
	o := pullOpts(t, tmp)
	o.Name, o.SHA256 = "fc", sum
	k, err := pullURL(context.Background(), e.URL, e, filepath.Join(tmp, "fc"), o)
	if err != nil {
		t.Fatal(err)
	}
	if k.Version != "6.1.155" || k.ConfigSource != "catalog:firecracker-ci-6.1" || k.Initrd != "" || k.Source != "pull:"+e.URL {
		t.Fatalf("record %+v", k)
	}
	left, _ := os.ReadDir(o.Downloads)
	if len(left) != 0 {
		t.Fatalf("downloads left behind: %v", left)
	}
}

func TestPullURL(t *testing.T) {
	tmp := t.TempDir()
	cfg, _ := os.ReadFile(testutil.SpecPath(t, "firecracker-guest-kernel-x86_64-6.1.config"))
	srv, sum := serve(t, kctest.TarFiles(t, map[string][]byte{"boot/vmlinux-6.1.3": kctest.ELF("6.1.3", false, nil), "boot/config-6.1.3": cfg}))

	o := pullOpts(t, tmp)
	if _, err := Pull(context.Background(), srv.URL+"/k.tar", filepath.Join(tmp, "a"), o); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "--sha256") {
		t.Fatalf("URL without sha256: %v", err)
	}
	o.SHA256 = strings.Repeat("0", 64)
	if _, err := Pull(context.Background(), srv.URL+"/k.tar", filepath.Join(tmp, "b"), o); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("wrong sha256: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a download that failed verification was imported")
	}
	o.SHA256 = sum
	k, err := Pull(context.Background(), srv.URL+"/kernels/k.tar", filepath.Join(tmp, "c"), o)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "k.tar" || k.Version != "6.1.3" {
		t.Fatalf("record %+v", k)
	}
}

func TestPullUnknownRef(t *testing.T) {
	_, err := Pull(context.Background(), "docker.io/library/not-a-kernel:latest", t.TempDir(), pullOpts(t, t.TempDir()))
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "debian-cloud") {
		t.Fatalf("err = %v", err)
	}
}

// syntheticDeb builds a linux-image .deb holding distroTree.
func syntheticDeb(t *testing.T) []byte {
	t.Helper()
	tree := t.TempDir()
	distroTree(t, tree, release)
	var xz bytes.Buffer
	w, _ := compress.NewWriter(compress.XZ, &xz)
	_, _ = w.Write(kctest.TarTree(t, tree, "./"))
	_ = w.Close()
	var deb bytes.Buffer
	deb.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{{"debian-binary", []byte("2.0\n")}, {"data.tar.xz", xz.Bytes()}} {
		fmt.Fprintf(&deb, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.data))
		deb.Write(m.data)
		if len(m.data)%2 == 1 {
			deb.WriteByte('\n')
		}
	}
	return deb.Bytes()
}

func TestPullApt(t *testing.T) {
	tmp := t.TempDir()
	deb := syntheticDeb(t)
	pkg := "linux-image-" + release
	var calls [][]string
	o := pullOpts(t, tmp)
	o.Agent = agent(t)
	o.Run = func(_ context.Context, dir string, argv ...string) ([]byte, error) {
		calls = append(calls, argv)
		switch argv[0] {
		case "apt-cache":
			return []byte("linux-image-cloud-amd64\n  Depends: " + pkg + "\n"), nil
		case "apt-get":
			return nil, os.WriteFile(filepath.Join(dir, pkg+"_6.1.99-1_amd64.deb"), deb, 0o644)
		}
		return nil, errors.New("unexpected command")
	}
	k, err := Pull(context.Background(), "debian-cloud", filepath.Join(tmp, "d"), o)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"apt-cache", "depends", "linux-image-cloud-amd64"}, {"apt-get", "download", "-q", pkg}}
	if !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("commands %q, want %q", calls, want)
	}
	if k.Name != "debian-cloud" || k.Source != "pull:debian-cloud ("+pkg+"_6.1.99-1_amd64.deb)" || k.Initrd == "" {
		t.Fatalf("record %+v", k)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "kernel-apt-*")); len(left) != 0 {
		t.Fatalf("apt scratch left: %v", left)
	}
}

func TestPullAptMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Pull(context.Background(), "debian-cloud", filepath.Join(t.TempDir(), "d"), pullOpts(t, t.TempDir()))
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "Debian and Ubuntu hosts") {
		t.Fatalf("err = %v", err)
	}
}

func TestAptImageDependency(t *testing.T) {
	for out, want := range map[string]string{
		"linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n": "linux-image-6.1.0-56-cloud-amd64",
		"x\n |Depends: linux-image-6.1.0-9-amd64\n  Depends: other\n":            "linux-image-6.1.0-9-amd64",
		"x\n  Depends: linux-image-$(rm -rf /)\n":                                "",
		"x\n  Recommends: linux-image-y\n":                                       "",
	} {
		if got := aptImageDependency([]byte(out)); got != want {
			t.Errorf("aptImageDependency(%q) = %q, want %q", out, got, want)
		}
	}
}

// TestPullOCI feeds Pull's OCI seam a flattened image stream, as the image
// pipeline produces it: a whole root file system of which only /boot and
// /lib/modules are kept.
func TestPullOCI(t *testing.T) {
	tmp := t.TempDir()
	tree := t.TempDir()
	distroTree(t, tree, release)
	kctest.WriteFile(t, filepath.Join(tree, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"))
	if err := os.Symlink("boot/vmlinuz-"+release, filepath.Join(tree, "vmlinuz")); err != nil {
		t.Fatal(err)
	}
	o := pullOpts(t, tmp)
	o.Agent = agent(t)
	var gotRef string
	image := kctest.TarTree(t, tree, "")
	o.OCI = func(_ context.Context, ref string, w io.Writer) error {
		gotRef = ref
		_, err := w.Write(image)
		return err
	}
	k, err := Pull(context.Background(), "registry.example/kernels/debian:6.1", filepath.Join(tmp, "oci"), o)
	if err != nil {
		t.Fatal(err)
	}
	if gotRef != "registry.example/kernels/debian:6.1" || k.Name != "debian-6.1" || k.Source != "pull:"+gotRef || k.Modules != 13 {
		t.Fatalf("ref %q, record %+v", gotRef, k)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "kernel-*")); len(left) != 0 {
		t.Fatalf("scratch left: %v", left)
	}

	// A failing pull and a hostile image both fail cleanly.
	o.OCI = func(context.Context, string, io.Writer) error { return errdefs.ErrUnavailable }
	if _, err := Pull(context.Background(), "x/y:z", filepath.Join(tmp, "bad"), o); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("failed pull: %v", err)
	}
	o.OCI = func(_ context.Context, _ string, w io.Writer) error {
		tw := tar.NewWriter(w)
		_ = tw.WriteHeader(&tar.Header{Name: "boot/../../escape", Typeflag: tar.TypeReg, Mode: 0o644})
		return tw.Close()
	}
	if _, err := Pull(context.Background(), "x/y:z", filepath.Join(tmp, "bad"), o); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("hostile image: %v", err)
	}
}
