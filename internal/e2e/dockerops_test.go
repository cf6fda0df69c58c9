package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDockerOps drives the Docker socket's operations beyond run with
// Debian's docker CLI, on one running container: exec (streams and exit
// code, piped stdin, -t through a pseudo-terminal made by script(1)),
// cp both ways, pause and unpause, rename, top, stats --no-stream; named
// volumes (create, ls, inspect, a container writing one and another
// reading it, rm); events between --since and --until showing a
// container's create, start and die; system df.
func TestDockerOps(t *testing.T) {
	f := env(t)
	d := f.dockerCLI(t)
	img := dockerImage(t, f)
	id := strings.TrimSpace(d.must(t, f, "run", "-d", "--name", "dk-ops", img, "sh", "-c", "echo up; while :; do sleep 1; done"))
	t.Cleanup(func() { d.quiet("rm", "-f", id) })
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(d.must(t, f, "logs", id), "up") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("exec", func(t *testing.T) {
		out, errOut, code := d.run(t, nil, "exec", "-e", "X=1", "-w", "/tmp", "dk-ops", "sh", "-c", "echo out $X $(pwd); echo err >&2; exit 4")
		if out != "out 1 /tmp\n" || errOut != "err\n" || code != 4 {
			t.Errorf("exec: stdout %q stderr %q exit %d; want out 1 /tmp, err, 4", out, errOut, code)
		}
		out, _, code = d.run(t, strings.NewReader("a\nb\nc\n"), "exec", "-i", "dk-ops", "wc", "-l")
		if strings.TrimSpace(out) != "3" || code != 0 {
			t.Errorf("exec -i with piped stdin: %q exit %d; want 3", out, code)
		}
		// -t needs a terminal on the client's side: script(1) gives it one.
		cmd := exec.CommandContext(t.Context(), "script", "-qec", d.bin+" exec -t dk-ops sh -c 'test -t 0 && echo on-a-tty; stty size'", "/dev/null")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.host, "DOCKER_CONFIG="+d.config)
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), "on-a-tty") || !regexp.MustCompile(`\d+ \d+`).Match(b) {
			t.Errorf("exec -t: %q %v; want on-a-tty and a size", b, err)
		}
	})

	t.Run("exec cost", func(t *testing.T) {
		// Measured, not asserted: docker exec through the socket against
		// banger exec, and a docker call of one request (inspect: the
		// CLI's own start and handshake), each a process of its own,
		// alternated.
		var viaDocker, viaBanger, oneCall []time.Duration
		timed := func(to *[]time.Duration, fn func()) {
			start := time.Now()
			fn()
			*to = append(*to, time.Since(start))
		}
		for range 7 {
			timed(&viaDocker, func() { d.must(t, f, "exec", "dk-ops", "true") })
			timed(&viaBanger, func() {
				if out, err := exec.CommandContext(t.Context(), f.banger, "--host", f.host, "exec", "dk-ops", "--", "true").CombinedOutput(); err != nil {
					t.Fatalf("banger exec: %v\n%s", err, out)
				}
			})
			timed(&oneCall, func() { d.must(t, f, "inspect", "-f", "{{.Id}}", "dk-ops") })
		}
		md, mb, mi := median(viaDocker).Round(time.Millisecond), median(viaBanger).Round(time.Millisecond), median(oneCall).Round(time.Millisecond)
		t.Logf("exec true, medians of 7: docker exec %v, banger exec %v (ratio %.2f); docker inspect (one request) %v", md, mb, md.Seconds()/mb.Seconds(), mi)
	})

	t.Run("cp both ways", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "tree/sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tree/sub/f.txt"), []byte("from the host\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		d.must(t, f, "cp", filepath.Join(dir, "tree"), "dk-ops:/tmp/")
		if out := d.must(t, f, "exec", "dk-ops", "sh", "-c", "cat /tmp/tree/sub/f.txt; stat -c %a /tmp/tree/sub/f.txt"); out != "from the host\n640\n" {
			t.Errorf("cp into the container: %q", out)
		}
		d.must(t, f, "exec", "dk-ops", "sh", "-c", "mkdir -p /tmp/out && echo from the guest > /tmp/out/g.txt")
		d.must(t, f, "cp", "dk-ops:/tmp/out", filepath.Join(dir, "back"))
		if b, err := os.ReadFile(filepath.Join(dir, "back/g.txt")); err != nil || string(b) != "from the guest\n" {
			t.Errorf("cp out of the container: %q %v", b, err)
		}
		// The CLI words a 404 of the path's stat itself.
		if _, errOut, code := d.run(t, nil, "cp", "dk-ops:/nope", dir); code == 0 || !strings.Contains(errOut, "No such container:path: dk-ops:/nope") {
			t.Errorf("cp of a missing path: exit %d %q", code, errOut)
		}
	})

	t.Run("pause, unpause, rename, top, stats", func(t *testing.T) {
		d.must(t, f, "pause", "dk-ops")
		if st := d.must(t, f, "inspect", "-f", "{{.State.Status}}", "dk-ops"); st != "paused\n" {
			t.Errorf("after pause: %q", st)
		}
		if _, errOut, code := d.run(t, nil, "exec", "dk-ops", "true"); code == 0 || !strings.Contains(errOut, "is paused") {
			t.Errorf("exec in a paused container: exit %d %q", code, errOut)
		}
		d.must(t, f, "unpause", "dk-ops")
		d.must(t, f, "rename", "dk-ops", "dk-ops2")
		if name := d.must(t, f, "inspect", "-f", "{{.Name}} {{.State.Status}}", id); name != "/dk-ops2 running\n" {
			t.Errorf("after unpause and rename: %q", name)
		}
		if top := d.must(t, f, "top", "dk-ops2"); !strings.Contains(top, "PID") || !strings.Contains(top, "sleep") {
			t.Errorf("top: %q; want the titles and the sleep", top)
		}
		stats := d.must(t, f, "stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}", "dk-ops2")
		parts := strings.Split(strings.TrimSpace(stats), "|")
		if len(parts) != 4 || parts[0] != "dk-ops2" || !strings.HasSuffix(parts[1], "%") || !strings.Contains(parts[2], " / ") ||
			strings.HasPrefix(parts[2], "0B / 0B") || parts[3] == "0" {
			t.Errorf("stats --no-stream: %q; want the name, a CPU %%, the guest's memory of its total, its processes", stats)
		}
	})

	t.Run("volumes", func(t *testing.T) {
		if out := d.must(t, f, "volume", "create", "--label", "suite=dkops", "dkvol"); out != "dkvol\n" {
			t.Errorf("volume create: %q", out)
		}
		t.Cleanup(func() { d.quiet("volume", "rm", "-f", "dkvol") })
		if ls := d.must(t, f, "volume", "ls", "-q", "--filter", "label=suite=dkops"); ls != "dkvol\n" {
			t.Errorf("volume ls --filter label: %q", ls)
		}
		if got := d.must(t, f, "volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels.suite}}", "dkvol"); got != "dkvol local dkops\n" {
			t.Errorf("volume inspect: %q", got)
		}
		d.must(t, f, "run", "--rm", "-v", "dkvol:/data", img, "sh", "-c", "echo kept > /data/f")
		if out := d.must(t, f, "run", "--rm", "-v", "dkvol:/data", img, "cat", "/data/f"); out != "kept\n" {
			t.Errorf("a second container read %q from the volume; want kept", out)
		}
		d.must(t, f, "volume", "rm", "dkvol")
		if _, errOut, code := d.run(t, nil, "volume", "inspect", "dkvol"); code == 0 || !strings.Contains(errOut, "No such volume: dkvol") {
			t.Errorf("inspect after rm: exit %d %q", code, errOut)
		}
	})

	t.Run("events", func(t *testing.T) {
		since := time.Now().Add(-time.Second)
		d.must(t, f, "run", "--rm", "--name", "dk-ev", img, "true")
		until := time.Now().Add(time.Second)
		out := d.must(t, f, "events", "--since", fmt.Sprint(since.Unix()), "--until", fmt.Sprint(until.Unix()),
			"--filter", "container=dk-ev", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
		want := "container create dk-ev\ncontainer start dk-ev\ncontainer die dk-ev\ncontainer destroy dk-ev\n"
		if out != want {
			t.Errorf("events --since --until:\n%s\nwant\n%s", out, want)
		}
	})

	t.Run("system df", func(t *testing.T) {
		out := d.must(t, f, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
		for _, re := range []string{`(?m)^Images [1-9]\d* \d+$`, `(?m)^Containers [1-9]\d* [1-9]\d*$`, `(?m)^Local Volumes \d+ \d+$`, `(?m)^Build Cache \d+ \d+$`} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("system df: %q; want a line matching %s", out, re)
			}
		}
	})

	d.must(t, f, "rm", "-f", id)
	f.assertNoOrphans(t)
}

// quiet runs docker for a cleanup (after the test's context ended),
// ignoring the outcome.
func (d dockerCLI) quiet(args ...string) {
	cmd := exec.Command(d.bin, args...) //nolint:noctx // a cleanup runs after the test's context is canceled
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.host, "DOCKER_CONFIG="+d.config)
	_ = cmd.Run()
}
