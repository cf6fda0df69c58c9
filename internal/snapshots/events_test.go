package snapshots

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/events/eventstest"
)

// summary is the events as "ACTION ID6 REASON", joined by "; ".
func summary(evs []events.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Action)+" "+e.ID[:6]+" "+e.Attributes[events.AttrReason])
	}
	return strings.Join(out, "; ")
}

// A store WithEvents reports each snapshot committed once (not the save
// that lost a race), and each removal — rm, prune, found damaged — with
// why.
func TestSnapshotEvents(t *testing.T) {
	log := &eventstest.Recorder{}
	s, err := New(filepath.Join(t.TempDir(), "snapshots"), nil, WithEvents(log))
	if err != nil {
		t.Fatal(err)
	}
	k1, k2, k3 := testKey(), testKey(), memKey()
	k2.CPUs = 3
	a, _ := s.Prepare(k1, Origin{VM: "a"})
	b, _ := s.Prepare(k1, Origin{VM: "b"})
	for _, p := range []*Pending{a, b} {
		if err := p.Create(); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, p)
		if _, err := p.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	sn2, sn3 := save(t, s, k2), save(t, s, k3)
	if _, err := s.Remove(k1.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(false, func(k Key) bool { return k.CPUs == 3 }); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sn3.Path(StateFile), 1); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Lookup(k3); ok {
		t.Fatal("a damaged snapshot was found")
	}
	want := "create " + k1.ID()[:6] + " ; create " + sn2.ID[:6] + " ; create " + sn3.ID[:6] + " ; remove " + k1.ID()[:6] + " ; remove " + sn2.ID[:6] + " pruned; remove " + sn3.ID[:6] + " damaged: "
	if got := summary(log.Events()); !strings.HasPrefix(got, want) {
		t.Fatalf("events:\n %s\nwant\n %s…", got, want)
	}
	if e := log.Events()[0]; e.Type != events.TypeSnapshot || e.Attributes[events.AttrVM] != "a" {
		t.Errorf("the first commit's event %+v: want a snapshot event of vm a", e)
	}
}
