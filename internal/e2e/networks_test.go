package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/api"
)

// TestUserNetworks runs three real VMs on two user-defined networks: on
// A, a1 reaches a2's httpd by a2's name and by its --network-alias (the
// network's DNS relay answers both); b1, on B, reaches a2 neither by
// address nor by name. A network in use is not removed (the refusal names
// the VMs); once the VMs are gone, rm of both networks leaves no bridge,
// no nft table and no record, and gc finds nothing at any point.
func TestUserNetworks(t *testing.T) {
	f := env(t)
	sfx := make([]byte, 3)
	_, _ = rand.Read(sfx)
	s := hex.EncodeToString(sfx)
	netA, netB := "e2e-a-"+s, "e2e-b-"+s
	var nets []api.Network
	for _, n := range []string{netA, netB} {
		var got api.Network
		if err := json.Unmarshal([]byte(f.must(t, "network", "create", n, "--format", "json")), &got); err != nil {
			t.Fatal(err)
		}
		nets = append(nets, got)
		t.Cleanup(func() { f.cli(nil, "network", "rm", n) })
	}
	a1, a2, b1 := "a1-"+s, "a2-"+s, "b1-"+s
	alias := "web-" + s
	serve := "mkdir -p /www && echo hello-from-a2 > /www/index.html && exec httpd -f -p 80 -h /www"
	for _, args := range [][]string{
		{"run", "-d", "--name", a2, "--network", netA, "--network-alias", alias, "busybox", "--", "sh", "-c", serve},
		{"run", "-d", "--name", a1, "--network", netA, "busybox", "--", "sleep", "600"},
		{"run", "-d", "--name", b1, "--network", netB, "busybox", "--", "sleep", "600"},
	} {
		f.must(t, args...)
		t.Cleanup(func() { f.cli(nil, "rm", "-f", args[3]) })
	}
	f.assertNoOrphans(t) // the networks' bridges are their records'
	ipA2 := f.inspect(t, a2).Runtime.IP
	if !strings.HasPrefix(ipA2, strings.TrimSuffix(nets[0].Subnet, "0/24")) {
		t.Fatalf("a2's address %s is not in %s's subnet %s", ipA2, netA, nets[0].Subnet)
	}
	sh := func(vm, line string) (string, int) {
		out, errOut, code := f.cli(nil, "exec", vm, "--", "sh", "-c", line)
		return out + errOut, code
	}
	t.Run("same network by name and alias", func(t *testing.T) {
		for _, host := range []string{ipA2, a2, alias} {
			if o, code := sh(a1, "timeout 10 wget -q -O - http://"+host+"/"); code != 0 || strings.TrimSpace(o) != "hello-from-a2" {
				t.Errorf("a1 fetching http://%s/: exit %d %q", host, code, o)
			}
		}
	})
	t.Run("other network neither reaches nor resolves", func(t *testing.T) {
		if o, code := sh(b1, "timeout 5 wget -q -O - http://"+ipA2+"/"); code == 0 {
			t.Errorf("b1 reached a2 at %s across networks: %q", ipA2, o)
		}
		if o, code := sh(b1, "timeout 8 wget -q -O - http://"+a2+"/"); code == 0 || strings.Contains(o, "hello") {
			t.Errorf("b1 reached a2 by name across networks: %q", o)
		}
	})
	t.Run("rm refused while in use", func(t *testing.T) {
		out, errOut, code := f.cli(nil, "network", "rm", netA)
		if code == 0 || !strings.Contains(out+errOut, a1) || !strings.Contains(out+errOut, a2) {
			t.Errorf("network rm of a network in use: exit %d %s%s", code, out, errOut)
		}
	})
	f.must(t, "rm", "-f", a1, a2, b1)
	f.must(t, "network", "rm", netA, netB)
	f.assertNetworksGone(t, nets)
	f.assertNoOrphans(t)
	ls := f.must(t, "network", "ls", "-q")
	for _, n := range nets {
		if strings.Contains(ls, n.ID[:12]) {
			t.Errorf("network ls still lists %s:\n%s", n.Name, ls)
		}
	}
}

// assertNetworksGone fails unless the networks' bridges, nft tables and
// records are all gone.
func (f *fixture) assertNetworksGone(t *testing.T, nets []api.Network) {
	t.Helper()
	for _, n := range nets {
		if out, err := exec.Command("ip", "link", "show", n.Bridge).CombinedOutput(); err == nil { //nolint:noctx // a test
			t.Errorf("bridge %s left:\n%s", n.Bridge, out)
		}
		for _, fam := range []string{"inet", "bridge"} {
			if out, err := exec.Command("nft", "list", "table", fam, n.Table).CombinedOutput(); err == nil { //nolint:noctx // a test
				t.Errorf("nft table %s %s left:\n%s", fam, n.Table, out)
			}
		}
		if out, _, code := f.cli(nil, "network", "inspect", n.Name); code == 0 {
			t.Errorf("network %s still has a record:\n%s", n.Name, out)
		}
	}
}
