package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/api"
)

// TestCommit runs a VM from a pulled image, changes its disk (a file
// written, one deleted, a mode changed, a symlink made), commits it while
// it runs, and runs the committed image: the changes are there, the
// deleted file is gone, the --change'd CMD runs, banger's own files are
// the new VM's, and the image has one layer more than its parent; then
// commits it again stopped.
func TestCommit(t *testing.T) {
	f := env(t)
	img, err := mutate.AppendLayers(empty.Image, busyboxLayer(t), rt.MustLayer(rt.Dir("etc"), rt.File("etc/doomed", "bye\n")))
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, v1.Config{Cmd: []string{"sh"}}); err != nil {
		t.Fatal(err)
	}
	reg := rt.Start(t)
	ref, _ := reg.Push(t, "commit/busybox:1", img)
	f.must(t, "pull", ref)
	t.Cleanup(func() { f.cli(nil, "rmi", ref) })

	id := strings.TrimSpace(f.must(t, "run", "-d", "--name", "commit-src", ref, "sleep", "3600"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	f.must(t, "exec", "commit-src", "sh", "-c",
		"mkdir -p /srv && echo committed > /srv/hello && chmod 0751 /srv/hello && ln -s hello /srv/link && rm /etc/doomed")

	out := f.must(t, "commit", "--message", "e2e", "--change", `CMD ["cat", "/srv/hello"]`, "--format", "json", "commit-src", "committed:1")
	t.Cleanup(func() { f.cli(nil, "rmi", "committed:1") })
	var res api.CommitResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("commit --format json: %v\n%s", err, out)
	}
	t.Logf("commit of a running VM: layer %s, %d bytes (%d added, %d changed, %d deleted), frozen %d ms",
		res.Layer, res.LayerBytes, res.Added, res.Changed, res.Deleted, res.FrozenMS)
	if res.VM != "commit-src" || res.Deleted < 1 || res.Added < 3 || res.Layer == "" || res.FrozenMS <= 0 {
		t.Errorf("commit result %+v", res)
	}
	if st := f.inspect(t, "commit-src").State; st != "running" {
		t.Errorf("the source VM is %s after the commit, want running", st)
	}

	if out := f.must(t, "run", "--rm", "committed:1"); out != "committed\n" {
		t.Errorf("the committed image's CMD printed %q", out)
	}
	check := `test ! -e /etc/doomed && stat -c '%a' /srv/hello && readlink /srv/link && cat /etc/hostname && ls /.banger`
	out = f.must(t, "run", "--rm", "--name", "commit-dst", "committed:1", "sh", "-c", check)
	if want := "751\nhello\ncommit-dst\nagent\nversion\n"; out != want {
		t.Errorf("in the committed image:\n%s\nwant:\n%s", out, want)
	}

	layers := func(ref string) int {
		var imgs []api.Image
		if err := json.Unmarshal([]byte(f.must(t, "image", "inspect", ref, "--format", "json")), &imgs); err != nil || len(imgs) != 1 {
			t.Fatalf("image inspect %s: %v", ref, err)
		}
		return len(imgs[0].Layers)
	}
	parent := layers(ref)
	if child := layers("committed:1"); child != parent+1 {
		t.Errorf("the committed image has %d layers, its parent %d", child, parent)
	}

	// A stopped VM's disk is committed as it lies, on the same parent.
	f.must(t, "stop", "commit-src")
	f.must(t, "commit", "commit-src", "committed:2")
	t.Cleanup(func() { f.cli(nil, "rmi", "committed:2") })
	if out := f.must(t, "run", "--rm", "committed:2", "sh", "-c", "cat /srv/hello; test -e /etc/doomed || echo gone"); out != "committed\ngone\n" {
		t.Errorf("the stopped VM's commit: %q", out)
	}
	if child := layers("committed:2"); child != parent+1 {
		t.Errorf("the stopped VM's commit has %d layers, its parent %d", child, parent)
	}
}
