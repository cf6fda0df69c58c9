//go:build linux

package qemu

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// TestOpenTapInNetns: a tap in another namespace cannot be attached to
// by name from the daemon's (and none is made there), but can from a
// thread inside it, and the queue it returns is that tap's (the tap
// shows a carrier there).
func TestOpenTapInNetns(t *testing.T) {
	testutil.RequireRoot(t)
	p := testutil.NewNetnsPair(t, fmt.Sprint(os.Getpid()%100000+7))
	testutil.IP(t, "-n", p.A, "tuntap", "add", "bgqtap", "mode", "tap", "vnet_hdr")
	testutil.IP(t, "-n", p.A, "link", "set", "bgqtap", "up")
	if out := testutil.IP(t, "-n", p.A, "link", "show", "bgqtap"); !strings.Contains(out, "NO-CARRIER") {
		t.Fatalf("an unattached tap shows a carrier:\n%s", out)
	}
	// By name in the daemon's namespace, TUNSETIFF would make a new,
	// unconnected tap: refused.
	if f, err := openTapIn("", "bgqtap"); err == nil || !strings.Contains(err.Error(), "no such tap") {
		if f != nil {
			_ = f.Close()
		}
		t.Fatalf("attached to the pod's tap from the daemon's namespace: %v", err)
	}
	if strings.Contains(testutil.IP(t, "link"), "bgqtap") {
		t.Error("a tap bgqtap is left in the daemon's namespace")
	}
	f, err := openTapIn(p.PathA(), "bgqtap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if out := testutil.IP(t, "-n", p.A, "-d", "link", "show", "bgqtap"); strings.Contains(out, "NO-CARRIER") {
		t.Errorf("the tap has no queue attached:\n%s", out)
	}
	if _, err := openTapIn("/var/run/netns/bg-none-such", "bgqtap"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a missing namespace: %v", err)
	}
}
