package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/agent/initplan"
	"github.com/bangerdev/banger/internal/agent/netplan"
	"github.com/bangerdev/banger/internal/bootcfg"
)

// recorder is the edge in tests: it records each call and fails the one
// named failOn.
type recorder struct {
	calls  []string
	failOn string
}

func (r *recorder) do(call string) error {
	r.calls = append(r.calls, call)
	if strings.HasPrefix(call, r.failOn+" ") || call == r.failOn {
		return errors.New("boom")
	}
	return nil
}

func (r *recorder) SetClock(now time.Time) error { return r.do(fmt.Sprint("clock ", now.Unix())) }
func (r *recorder) AddEntropy(seed []byte) error { return r.do(fmt.Sprintf("entropy %x", seed)) }
func (r *recorder) ReseedCRNG() error            { return r.do("reseed") }
func (r *recorder) RemountRootRW() error         { return r.do("remount-rw") }
func (r *recorder) APIFileSystems() error        { return r.do("api") }
func (r *recorder) Hostname(name string) error   { return r.do("hostname " + name) }
func (r *recorder) Network(ops []netplan.Op) error {
	var s []string
	for _, o := range ops {
		s = append(s, o.String())
	}
	return r.do("network " + strings.Join(s, "; "))
}
func (r *recorder) ResolvConf(content []byte) error {
	f := strings.Fields(string(content))
	return r.do("resolv " + f[len(f)-1])
}
func (r *recorder) GrowRoot() error             { return r.do("grow") }
func (r *recorder) Mount(p initplan.Plan) error { return r.do(fmt.Sprint("mount ", len(p.Mounts))) }
func (r *recorder) Volumes(ms []bootcfg.Mount) error {
	return r.do(fmt.Sprint("volumes ", len(ms)))
}

func ownConfig() bootcfg.Config {
	return bootcfg.Config{
		Hostname: "web", EntropySeed: []byte{1, 2},
		Network: &bootcfg.Network{
			MAC: "06:00:0a:58:00:07", Address: netip.MustParsePrefix("10.88.0.7/24"),
			Gateway: netip.MustParseAddr("10.88.0.1"), DNS: []netip.Addr{netip.MustParseAddr("10.88.0.1")},
		},
		GrowRoot: true, Tmpfs: []bootcfg.Tmpfs{{Path: "/scratch"}},
		Mounts: []bootcfg.Mount{{Type: bootcfg.MountExt4, Source: "u", Target: "/data"}},
	}
}

// The apply's order is the design's: clock, seed, reseed, the root
// writable, then the VM's identity with the MAC set first, the volumes
// last.
func TestApplySteps(t *testing.T) {
	r := &recorder{}
	if err := runUntilError(applySteps(ownConfig(), time.Unix(1700000000, 0), r)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"clock 1700000000", "entropy 0102", "reseed", "remount-rw", "api", "hostname web",
		"network link-up lo; set-mac eth0 to 06:00:0a:58:00:07; add-addr eth0[06:00:0a:58:00:07] 10.88.0.7/24; " +
			"link-up eth0[06:00:0a:58:00:07]; default-route eth0[06:00:0a:58:00:07] via 10.88.0.1",
		"resolv 10.88.0.1", "grow", "mount 1", "volumes 1",
	}
	if !reflect.DeepEqual(r.calls, want) {
		t.Fatalf("apply calls\n%q\nwant\n%q", r.calls, want)
	}
}

// An apply stops at the first failure and says what failed: nothing of
// the VM's identity is applied on a root that could not be made
// writable.
func TestApplyStopsAtAFailure(t *testing.T) {
	for _, tt := range []struct {
		failOn, says string
		calls        int
	}{
		{"clock", "set the clock: boom", 1},
		{"reseed", "reseed the CRNG: boom", 3},
		{"remount-rw", "remount / read-write: boom", 4},
		{"hostname", "hostname: boom", 6},
		{"volumes", "boom", 11},
	} {
		r := &recorder{failOn: tt.failOn}
		err := runUntilError(applySteps(ownConfig(), time.Unix(1, 0), r))
		if err == nil || err.Error() != tt.says || len(r.calls) != tt.calls {
			t.Errorf("failing %s: %v after %q; want %q after %d calls", tt.failOn, err, r.calls, tt.says, tt.calls)
		}
	}
}

// A fork's re-identify: the clock and a fresh random state first, then
// its name and network, the NIC flushed of its source's identity and
// given the new MAC before its address. Nothing that would touch the
// running guest's disk or mounts: no remount, grow, tmpfs or volumes.
func TestReidentifySteps(t *testing.T) {
	r := &recorder{}
	if err := runUntilError(reidentifySteps(ownConfig(), time.Unix(1700000000, 0), r)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"clock 1700000000", "entropy 0102", "reseed", "hostname web",
		"network link-up lo; link-down eth0; flush eth0; set-mac eth0 to 06:00:0a:58:00:07; add-addr eth0[06:00:0a:58:00:07] 10.88.0.7/24; " +
			"link-up eth0[06:00:0a:58:00:07]; default-route eth0[06:00:0a:58:00:07] via 10.88.0.1",
		"resolv 10.88.0.1",
	}
	if !reflect.DeepEqual(r.calls, want) {
		t.Fatalf("re-identify calls\n%q\nwant\n%q", r.calls, want)
	}
	for _, tt := range []struct {
		failOn, says string
		calls        int
	}{
		{"reseed", "reseed the CRNG: boom", 3},
		{"network", "boom", 5},
	} {
		r := &recorder{failOn: tt.failOn}
		err := runUntilError(reidentifySteps(ownConfig(), time.Unix(1, 0), r))
		if err == nil || err.Error() != tt.says || len(r.calls) != tt.calls {
			t.Errorf("failing %s: %v after %q; want %q after %d calls", tt.failOn, err, r.calls, tt.says, tt.calls)
		}
	}
}

// A boot from its own config keeps its order and goes on after a
// failure; it sets no clock, reseeds nothing and leaves the root as
// mounted.
func TestBootSteps(t *testing.T) {
	r := &recorder{failOn: "hostname"}
	cfg := ownConfig()
	errs := runAll(bootSteps(cfg, r))
	want := []string{
		"entropy 0102", "hostname web",
		"network link-up lo; add-addr eth0[06:00:0a:58:00:07] 10.88.0.7/24; link-up eth0[06:00:0a:58:00:07]; default-route eth0[06:00:0a:58:00:07] via 10.88.0.1",
		"resolv 10.88.0.1", "grow", "mount 1",
	}
	if !reflect.DeepEqual(r.calls, want) {
		t.Fatalf("boot calls\n%q\nwant\n%q", r.calls, want)
	}
	if len(errs) != 1 || errs[0].Error() != "hostname: boom" {
		t.Errorf("errors %v", errs)
	}
	r = &recorder{}
	runAll(bootSteps(bootcfg.Config{}, r))
	if !reflect.DeepEqual(r.calls, []string{"network link-up lo"}) {
		t.Errorf("an empty config: %q", r.calls)
	}
}

// The root's flags are kept, read-only dropped; ST_RELATIME is not
// MS_RELATIME's value but MS_BIND's, which would make the remount change
// only the mount and leave the file system read-only.
func TestRemountRWFlags(t *testing.T) {
	for _, tt := range []struct {
		st   int64
		want uintptr
	}{
		{unix.ST_RDONLY, unix.MS_REMOUNT},
		{unix.ST_RDONLY | unix.ST_RELATIME, unix.MS_REMOUNT | unix.MS_RELATIME},
		{unix.ST_RDONLY | unix.ST_NOATIME | unix.ST_NOSUID | unix.ST_NODEV | 1<<20, unix.MS_REMOUNT | unix.MS_NOATIME | unix.MS_NOSUID | unix.MS_NODEV},
	} {
		got := remountRWFlags(tt.st)
		if got != tt.want || got&unix.MS_BIND != 0 {
			t.Errorf("remountRWFlags(%#x) = %#x, want %#x", tt.st, got, tt.want)
		}
	}
}

// After an apply the agent also listens where the VM's own config says
// and the held one could not: TCP needs the VM's address.
func TestNewListens(t *testing.T) {
	held := bootcfg.Config{Channels: bootcfg.Channels{VirtioPort: "banger.agent", TCPPort: 22}}
	own := held
	own.Network = &bootcfg.Network{Address: netip.MustParsePrefix("10.88.0.7/24")}
	got := newListens(defaultListens(held), defaultListens(own))
	if want := []string{"tcp:10.88.0.7:22"}; !reflect.DeepEqual(got, want) {
		t.Errorf("new listens %q, want %q", got, want)
	}
	if got := newListens(defaultListens(own), defaultListens(own)); len(got) != 0 {
		t.Errorf("nothing new: %q", got)
	}
}

// An apply's console line names each step it ran, in order, with its
// time; a failure ends the list at the step before it.
func TestRunTimedSaysWhatTookHowLong(t *testing.T) {
	boom := errors.New("boom")
	took, err := runTimed([]step{
		{"clock", func() error { return nil }},
		{"network", func() error { time.Sleep(20 * time.Millisecond); return nil }},
		{"grow", func() error { return boom }},
		{"tmpfs", func() error { t.Error("a step after the failure ran"); return nil }},
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the failing step's", err)
	}
	parts := strings.Split(took, ", ")
	if len(parts) != 2 || !strings.HasPrefix(parts[0], "clock ") || !strings.HasPrefix(parts[1], "network ") {
		t.Fatalf("took = %q, want clock and network", took)
	}
	var ms int
	if _, err := fmt.Sscanf(parts[1], "network %dms", &ms); err != nil || ms < 20 {
		t.Errorf("network took %q, want at least 20ms", parts[1])
	}
}
