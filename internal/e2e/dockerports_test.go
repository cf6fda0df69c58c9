package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestDockerRandomPorts: `docker run -p 80 -p 127.0.0.1::81 --expose 82
// -P` publishes each port on a host port banger picks; `docker port`,
// `docker ps` and `banger port` agree on them, the host fetches each on
// 127.0.0.1, and a stop and start picks (and answers on) them again.
func TestDockerRandomPorts(t *testing.T) {
	f := env(t)
	d := f.dockerCLI(t)
	img := dockerImage(t, f)
	const serve = "mkdir -p /www && echo hello-random > /www/index.html && httpd -p 81 -h /www && httpd -p 82 -h /www && exec httpd -f -p 80 -h /www"
	id := strings.TrimSpace(d.must(t, f, "run", "-d", "--name", "dk-ports", "-p", "80", "-p", "127.0.0.1::81", "--expose", "82", "-P", img, "sh", "-c", serve))
	t.Cleanup(func() { d.run(t, nil, "rm", "-f", id) })

	// hostPort is what `docker port` says of a guest port: HOSTIP:PORT.
	hostPort := func(t *testing.T, guest, wantIP string) int {
		t.Helper()
		out := strings.TrimSpace(d.must(t, f, "port", "dk-ports", guest))
		ip, port, err := net.SplitHostPort(out)
		n, _ := strconv.Atoi(port)
		if err != nil || ip != wantIP || n < 1024 {
			t.Fatalf("docker port dk-ports %s: %q; want %s:PORT with a picked port", guest, out, wantIP)
		}
		return n
	}
	check := func(t *testing.T) map[string]int {
		t.Helper()
		got := map[string]int{"80/tcp": hostPort(t, "80/tcp", "0.0.0.0"), "81/tcp": hostPort(t, "81/tcp", "127.0.0.1"), "82/tcp": hostPort(t, "82/tcp", "0.0.0.0")}
		if got["80/tcp"] == got["81/tcp"] || got["80/tcp"] == got["82/tcp"] || got["81/tcp"] == got["82/tcp"] {
			t.Fatalf("one host port for two guest ports: %v", got)
		}
		for guest, port := range got {
			if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "hello-random\n" {
				t.Errorf("GET 127.0.0.1:%d (%s): %q", port, guest, body)
			}
		}
		ps := d.must(t, f, "ps", "--filter", "name=dk-ports", "--format", "{{.Ports}}")
		for guest, port := range got {
			if !strings.Contains(ps, fmt.Sprintf(":%d->%s", port, guest)) {
				t.Errorf("docker ps Ports %q lacks %d->%s", ps, port, guest)
			}
		}
		bp := f.must(t, "port", "dk-ports", "80")
		if want := fmt.Sprintf("0.0.0.0:%d", got["80/tcp"]); strings.TrimSpace(bp) != want {
			t.Errorf("banger port dk-ports 80: %q; want %s", bp, want)
		}
		return got
	}
	first := check(t)
	t.Logf("picked: %v", first)

	d.must(t, f, "stop", "dk-ports")
	if out := d.must(t, f, "inspect", "-f", "{{json .NetworkSettings.Ports}} {{json .HostConfig.PortBindings}}", "dk-ports"); !strings.HasPrefix(out, "{} ") || !strings.Contains(out, `"80/tcp":[{"HostIp":"0.0.0.0","HostPort":""}]`) {
		t.Errorf("stopped: inspect %q; want no published ports and the request kept", out)
	}
	d.must(t, f, "start", "dk-ports")
	second := check(t)
	t.Logf("picked after stop/start: %v", second)

	d.must(t, f, "rm", "-f", "dk-ports")
	for _, port := range second {
		if c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port)); err == nil { //nolint:noctx // loopback
			_ = c.Close()
			t.Errorf("127.0.0.1:%d still answers after rm -f", port)
		}
	}
	f.assertNoOrphans(t)
}
