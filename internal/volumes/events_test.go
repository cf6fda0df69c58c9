package volumes

import (
	"context"
	"testing"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/events/eventstest"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/store/storetest"
	"github.com/bangerdev/banger/internal/testutil"
)

// A volume's create and remove are reported once each, after the record;
// a refused remove (in use) reports nothing.
func TestVolumeEvents(t *testing.T) {
	testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	layout, st := storetest.Open(t)
	log := &eventstest.Recorder{}
	inUse := true
	s := New(Options{Layout: layout, Store: st, Events: log, Users: func(*store.Tx, string) []User {
		if inUse {
			return []User{{Name: "web"}}
		}
		return nil
	}})
	if _, err := s.Create(context.Background(), "data", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("data"); err == nil {
		t.Fatal("removed a volume in use")
	}
	inUse = false
	if err := s.Remove("data"); err != nil {
		t.Fatal(err)
	}
	evs := log.Events()
	if got := log.Actions("data"); len(evs) != 2 || got != "create remove" || evs[0].Type != events.TypeVolume {
		t.Fatalf("events %+v, want the volume's create and remove", evs)
	}
}
