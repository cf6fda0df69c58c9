package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
)

// TestDockerNetworks drives banger's user-defined networks through the
// docker CLI on the Docker socket: on a network docker created, one
// container reaches another's httpd by its name and its --network-alias;
// a container on another network, or on the default one, reaches it
// neither by name nor by address. network ls and inspect show what
// banger made; connect and disconnect move a stopped container and
// refuse a running one; rm is refused while a container uses the
// network, then leaves no bridge, nft table or record; the events
// stream has the network's create and destroy.
func TestDockerNetworks(t *testing.T) {
	f := env(t)
	d := f.dockerCLI(t)
	img := dockerImage(t, f)
	sfx := make([]byte, 3)
	_, _ = rand.Read(sfx)
	s := hex.EncodeToString(sfx)
	appnet, other := "appnet-"+s, "othernet-"+s
	web, www, idle := "web-"+s, "www-"+s, "idle-"+s
	since := strconv.FormatInt(time.Now().Unix(), 10)
	var ids []string
	for _, n := range []string{appnet, other} {
		id := strings.TrimSpace(d.must(t, f, "network", "create", n))
		if len(id) != 64 {
			t.Fatalf("network create %s printed %q; want a 64-digit id", n, id)
		}
		ids = append(ids, id)
		t.Cleanup(func() { d.quiet("network", "rm", n) })
	}
	var recs []api.Network
	for _, n := range []string{appnet, other} {
		var rec api.Network
		if err := json.Unmarshal([]byte(f.must(t, "network", "inspect", n, "--format", "json")), &rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	serve := "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www"
	d.must(t, f, "run", "-d", "--network", appnet, "--name", web, "--network-alias", www, img, "sh", "-c", serve)
	t.Cleanup(func() { d.quiet("rm", "-f", web, idle) })
	ip := strings.TrimSpace(d.must(t, f, "inspect", "-f", `{{(index .NetworkSettings.Networks "`+appnet+`").IPAddress}}`, web))
	if !strings.HasPrefix(ip, strings.TrimSuffix(recs[0].Subnet, "0/24")) {
		t.Fatalf("web's address %q is not in %s's subnet %s", ip, appnet, recs[0].Subnet)
	}
	fetch := func(network string, hosts ...string) (string, int) {
		var line []string
		for _, h := range hosts {
			line = append(line, "timeout 8 wget -q -O - http://"+h+"/")
		}
		args := []string{"run", "--rm"}
		if network != "" {
			args = append(args, "--network", network)
		}
		out, errOut, code := d.run(t, nil, append(args, img, "sh", "-c", strings.Join(line, " && "))...)
		return out + errOut, code
	}

	t.Run("same network by name and alias", func(t *testing.T) {
		if out, code := fetch(appnet, web, www); code != 0 || out != "hello-from-web\nhello-from-web\n" {
			t.Errorf("a container on %s fetching http://%s/ and http://%s/: exit %d %q", appnet, web, www, code, out)
		}
	})
	t.Run("other networks neither reach nor resolve", func(t *testing.T) {
		for _, n := range []string{other, ""} {
			for _, h := range []string{web, ip} {
				if out, code := fetch(n, h); code == 0 || strings.Contains(out, "hello") {
					t.Errorf("a container on network %q reached http://%s/: %q", n, h, out)
				}
			}
		}
	})
	t.Run("ls and inspect", func(t *testing.T) {
		ls := d.must(t, f, "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.ID}}")
		for _, want := range []string{"bridge bridge ", "host host ", "none null ", appnet + " bridge " + ids[0][:12]} {
			if !strings.Contains(ls, want) {
				t.Errorf("network ls lacks %q:\n%s", want, ls)
			}
		}
		if got := d.must(t, f, "network", "ls", "-q", "--filter", "name="+appnet); strings.TrimSpace(got) != ids[0][:12] {
			t.Errorf("network ls -q --filter name=%s: %q; want %s", appnet, got, ids[0][:12])
		}
		got := d.must(t, f, "network", "inspect", "-f", `{{.Id}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}`, appnet)
		want := ids[0] + " bridge " + recs[0].Subnet + " " + recs[0].Gateway + " " + web + " " + ip + "/24\n"
		if got != want {
			t.Errorf("network inspect: %q; want %q", got, want)
		}
		aliases := d.must(t, f, "inspect", "-f", `{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{join $v.Aliases ","}} {{$v.NetworkID}}{{end}} {{.HostConfig.NetworkMode}}`, web)
		if aliases != appnet+" "+www+" "+ids[0]+" "+appnet+"\n" {
			t.Errorf("inspect of web's network: %q", aliases)
		}
	})
	t.Run("connect and disconnect", func(t *testing.T) {
		d.must(t, f, "create", "--name", idle, img, "true")
		d.must(t, f, "network", "connect", "--alias", "spare", appnet, idle)
		if got := d.must(t, f, "inspect", "-f", `{{.HostConfig.NetworkMode}} {{range .NetworkSettings.Networks}}{{join .Aliases ","}}{{end}}`, idle); got != appnet+" spare\n" {
			t.Errorf("a connected container: %q; want %s spare", got, appnet)
		}
		d.must(t, f, "network", "disconnect", appnet, idle)
		if got := d.must(t, f, "inspect", "-f", `{{.HostConfig.NetworkMode}}`, idle); got != "none\n" {
			t.Errorf("a disconnected container's network: %q; want none", got)
		}
		out, errOut, code := d.run(t, nil, "network", "disconnect", appnet, web)
		if code == 0 || !strings.Contains(errOut, "is running") || !strings.Contains(errOut, "one network interface") {
			t.Errorf("disconnect of a running container: exit %d %q %q", code, out, errOut)
		}
	})
	t.Run("rm refused while in use", func(t *testing.T) {
		_, errOut, code := d.run(t, nil, "network", "rm", appnet)
		if code == 0 || !strings.Contains(errOut, "has active endpoints") || !strings.Contains(errOut, web) {
			t.Errorf("network rm of a network in use: exit %d %q", code, errOut)
		}
		if _, errOut, code := d.run(t, nil, "network", "rm", "bridge"); code == 0 || !strings.Contains(errOut, "pre-defined network") {
			t.Errorf("network rm bridge: exit %d %q", code, errOut)
		}
	})
	d.must(t, f, "rm", "-f", web, idle)
	d.must(t, f, "network", "rm", appnet, other)
	f.assertNetworksGone(t, recs)
	f.assertNoOrphans(t)
	until := strconv.FormatInt(time.Now().Unix()+1, 10)
	ev := d.must(t, f, "events", "--since", since, "--until", until, "--filter", "type=network", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	for _, want := range []string{"create " + appnet, "destroy " + appnet, "create " + other, "destroy " + other} {
		if !strings.Contains(ev, want+"\n") {
			t.Errorf("docker events lacks %q:\n%s", want, ev)
		}
	}
}
