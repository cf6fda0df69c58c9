package cli_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bangerdev/banger/internal/cli"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
)

// TestScriptingAgainstDaemon drives the scripting surface (labels,
// filters, -q, templates, inspect of several kinds, aliases, completion)
// against a real daemon, with VMs that are created but never started.
func TestScriptingAgainstDaemon(t *testing.T) {
	td := imageDaemon(t)
	reg := rt.Start(t)
	img, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("etc/os-release", "ID=synthetic\n"))})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Config.Labels = map[string]string{"org.example.team": "tools"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	ref, _ := reg.Push(t, "team/tool:1", img)
	mustRun(t, td.Host, "pull", ref)
	fc := filepath.Join(t.TempDir(), "vmlinux-6.1.155")
	kctest.WriteFile(t, fc, kctest.ELF("6.1.155", false, nil))
	kctest.WriteFile(t, fc+".config", []byte(kctest.BuiltinConfig))
	mustRun(t, td.Host, "kernel", "import", fc, "--name", "fc")

	mustRun(t, td.Host, "create", "--name", "web", "-l", "team=web", "--label", "tier=front", "-p", "8080:80", "-p", "127.0.0.1:5353:53/udp", ref)
	mustRun(t, td.Host, "create", "--name", "db", "-l", "team=db", ref, "sleep", "--forever")

	if out := mustRun(t, td.Host, "ps", "-a", "--filter", "label=team=web", "--format", "{{.Name}} {{.State}} {{index .Spec.Labels \"tier\"}}"); out != "web created front\n" {
		t.Errorf("ps --filter label=team=web --format: %q", out)
	}
	if out := mustRun(t, td.Host, "ps", "--filter", "state=created", "--filter", "name=^d", "--format", "{{.Name}} {{join .Spec.Cmd \" \"}}"); out != "db sleep --forever\n" {
		t.Errorf("ps filtered on state and name (the command's own flag kept): %q", out)
	}
	ids := strings.Fields(mustRun(t, td.Host, "ps", "-aq"))
	if len(ids) != 2 {
		t.Errorf("ps -aq: %q", ids)
	}
	if out := mustRun(t, td.Host, "ps", "-q"); out != "" {
		t.Errorf("ps -q lists no running VM, got %q", out)
	}

	var objs []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, td.Host, "inspect", "web", ref, "fc")), &objs); err != nil || len(objs) != 3 {
		t.Fatalf("inspect of a VM, an image and a kernel: %v %v", err, objs)
	}
	if spec, _ := objs[0]["spec"].(map[string]any); spec == nil || spec["labels"].(map[string]any)["team"] != "web" || objs[1]["name"] != ref || objs[2]["version"] != "6.1.155" {
		t.Errorf("inspect web IMAGE KERNEL = %v", objs)
	}
	if _, errOut, code := run(t, td.Host, "inspect", "--type", "kernel", "web"); code != cli.ExitBanger || !strings.Contains(errOut, `kernel "web": not found`) {
		t.Errorf("inspect --type kernel of a VM's name: exit %d: %s", code, errOut)
	}
	out, errOut, code := run(t, td.Host, "inspect", "--format", "{{.Name}}", "db", "nosuch", "web")
	if code != cli.ExitBanger || out != "db\nweb\n" || !strings.Contains(errOut, `"nosuch"`) {
		t.Errorf("inspect with one name missing: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out := mustRun(t, td.Host, "inspect", "web", "--format", "table"); !strings.Contains(out, "team=web,tier=front") {
		t.Errorf("inspect --format table shows no labels:\n%s", out)
	}

	if out := mustRun(t, td.Host, "images", "--filter", "label=org.example.team=tools", "--format", "{{.Name}}"); out != ref+"\n" {
		t.Errorf("images --filter label: %q", out)
	}
	if out := mustRun(t, td.Host, "image", "ls", "--filter", "name=nothing*", "-q"); out != "" {
		t.Errorf("image ls with a filter nothing matches: %q", out)
	}
	if ids := strings.Fields(mustRun(t, td.Host, "images", "-q")); len(ids) != 1 || len(ids[0]) != 16 {
		t.Errorf("images -q: %q", ids)
	}

	if got := complete(t, td.Host, "start", ""); !equalSets(got, []string{"web", "db"}) {
		t.Errorf("completion of start: %q", got)
	}
	if got := complete(t, td.Host, "rm", "w"); !equalSets(got, []string{"web"}) {
		t.Errorf("completion of rm w: %q", got)
	}
	// "none" is a value of --network, never a network to inspect or remove.
	if got := complete(t, td.Host, "run", "--network", ""); !slices.Contains(got, "none") {
		t.Errorf("completion of run --network: %q, want none among them", got)
	}
	if got := complete(t, td.Host, "network", "rm", ""); slices.Contains(got, "none") {
		t.Errorf("completion of network rm: %q offers none", got)
	}
	if got := complete(t, td.Host, "exec", ""); len(got) != 0 {
		t.Errorf("exec completes running VMs only, got %q", got)
	}
	if got := complete(t, td.Host, "run", ""); !equalSets(got, []string{ref}) {
		t.Errorf("completion of run: %q", got)
	}
	if got := complete(t, td.Host, "kernel", "rm", ""); !equalSets(got, []string{"fc"}) {
		t.Errorf("completion of kernel rm: %q", got)
	}
	if got := complete(t, td.Host, "run", "--kernel", ""); !equalSets(got, []string{"fc"}) {
		t.Errorf("completion of --kernel: %q", got)
	}
	if got := complete(t, td.Host, "run", ref, ""); len(got) != 0 {
		t.Errorf("the guest command completes nothing, got %q", got)
	}
	opsOfCreatedVMs(t, td.Host)
	mustRun(t, td.Host, "rm", "web", "db")
	mustRun(t, td.Host, "rmi", ref)
	if out := mustRun(t, td.Host, "images", "--format", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("after rmi: %q", out)
	}
}

// TestCompletionWithoutDaemon: a shell completing while the daemon is
// down gets nothing, at once, and no error.
func TestCompletionWithoutDaemon(t *testing.T) {
	start := time.Now()
	got := complete(t, "unix:///nonexistent/banger.sock", "exec", "")
	if len(got) != 0 || time.Since(start) > time.Second {
		t.Errorf("completion without a daemon: %q in %v", got, time.Since(start))
	}
}

// complete runs cobra's __complete for a command line and returns the
// completions (the last line is the directive).
func complete(t *testing.T, host string, args ...string) []string {
	t.Helper()
	out, errOut, code := run(t, host, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %q: exit %d: %s", args, code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("__complete %q printed no directive: %q", args, out)
	}
	if lines[len(lines)-1] != ":4" {
		t.Errorf("__complete %q: directive %s, want :4 (no file completion)", args, lines[len(lines)-1])
	}
	var names []string
	for _, l := range lines[:len(lines)-1] {
		n, desc, ok := strings.Cut(l, "\t")
		if !ok || desc == "" {
			t.Errorf("__complete %q: %q has no description", args, l)
		}
		names = append(names, n)
	}
	return names
}

func equalSets(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// opsOfCreatedVMs: port, rename, pause, update and stats on the VMs web
// (which publishes 8080:80 and 127.0.0.1:5353:53/udp) and db, neither
// running; and a volume's create, inspect and rm.
func opsOfCreatedVMs(t *testing.T, host string) {
	t.Helper()
	if out := mustRun(t, host, "port", "web"); out != "80/tcp -> 0.0.0.0:8080\n53/udp -> 127.0.0.1:5353\n" {
		t.Errorf("port web: %q", out)
	}
	if out := mustRun(t, host, "port", "web", "53/udp"); out != "127.0.0.1:5353\n" {
		t.Errorf("port web 53/udp: %q", out)
	}
	if _, errOut, code := run(t, host, "port", "web", "81"); code != cli.ExitBanger || !strings.Contains(errOut, "no host port for 81/tcp") {
		t.Errorf("port of an unpublished port: exit %d: %s", code, errOut)
	}
	mustRun(t, host, "rename", "web", "front")
	if out := mustRun(t, host, "ps", "-a", "--filter", "name=^front$", "--format", "{{.Name}} {{len .Spec.Ports}}"); out != "front 2\n" {
		t.Errorf("after rename: %q", out)
	}
	if _, errOut, code := run(t, host, "rename", "db", "front"); code != cli.ExitBanger || !strings.Contains(errOut, `vm name "front"`) {
		t.Errorf("rename to a name in use: exit %d: %s", code, errOut)
	}
	if _, errOut, code := run(t, host, "rename", "db", "bad name"); code != cli.ExitBanger || !strings.Contains(errOut, "letters, digits") {
		t.Errorf("rename to an invalid name: exit %d: %s", code, errOut)
	}
	mustRun(t, host, "rename", "front", "web")
	if _, errOut, code := run(t, host, "pause", "web"); code != cli.ExitBanger || !strings.Contains(errOut, "not running") {
		t.Errorf("pause of a created VM: exit %d: %s", code, errOut)
	}
	if _, errOut, code := run(t, host, "unpause", "web"); code != cli.ExitBanger || !strings.Contains(errOut, "not paused") {
		t.Errorf("unpause of a created VM: exit %d: %s", code, errOut)
	}
	if out := mustRun(t, host, "stats", "--no-stream", "--format", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("stats with nothing running: %q", out)
	}
	if _, errOut, code := run(t, host, "stats", "--no-stream", "db"); code != cli.ExitBanger || !strings.Contains(errOut, "not running") {
		t.Errorf("stats of a created VM: exit %d: %s", code, errOut)
	}
	if out := mustRun(t, host, "update", "--restart", "on-failure:3", "db"); out != "db\n" {
		t.Errorf("update prints each VM once, got %q", out)
	}
	if out := mustRun(t, host, "inspect", "db", "--format", "{{.Spec.Restart.Name}}:{{.Spec.Restart.MaxRetries}}"); out != "on-failure:3\n" {
		t.Errorf("after update --restart on-failure:3: %q", out)
	}
	if out := mustRun(t, host, "inspect", "db", "--format", "table"); !strings.Contains(out, "on-failure:3") {
		t.Errorf("inspect --format table shows no restart policy:\n%s", out)
	}
	if out := mustRun(t, host, "update", "--restart", "no", "db"); out != "db\n" {
		t.Errorf("update --restart no: %q", out)
	}
	if out := mustRun(t, host, "inspect", "db", "--format", "{{.Spec.Restart.Name}}"); out != "\n" {
		t.Errorf("after update --restart no: %q", out)
	}
	if out := mustRun(t, host, "volume", "create", "scratch", "--size", "64M"); out != "scratch\n" {
		t.Errorf("volume create: %q", out)
	}
	if out := mustRun(t, host, "volume", "inspect", "scratch", "--format", "{{.Name}} {{.SizeBytes}}"); out != "scratch 67108864\n" {
		t.Errorf("volume inspect --format: %q", out)
	}
	if out := mustRun(t, host, "volume", "inspect", "scratch"); !strings.Contains(out, "Size:") || !strings.Contains(out, "64MiB") {
		t.Errorf("volume inspect table:\n%s", out)
	}
	if _, errOut, code := run(t, host, "volume", "inspect", "nosuch"); code != cli.ExitBanger || !strings.Contains(errOut, "nosuch") {
		t.Errorf("volume inspect of a missing volume: exit %d: %s", code, errOut)
	}
	if got := complete(t, host, "volume", "rm", "s"); !equalSets(got, []string{"scratch"}) {
		t.Errorf("completion of volume rm: %q", got)
	}
	if out := mustRun(t, host, "volume", "rm", "scratch"); out != "Removed scratch\n" {
		t.Errorf("volume rm: %q", out)
	}
	if got := complete(t, host, "rename", ""); !equalSets(got, []string{"web", "db"}) {
		t.Errorf("completion of rename: %q", got)
	}
	if got := complete(t, host, "rename", "web", ""); len(got) != 0 {
		t.Errorf("the new name completes nothing, got %q", got)
	}
}
