package volumes

import (
	"context"
	"sync"
	"testing"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/store/storetest"
	"github.com/bangerdev/banger/internal/testutil"
)

type eventLog struct {
	mu  sync.Mutex
	got []string
}

func (l *eventLog) Publish(e events.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, string(e.Type)+" "+string(e.Action)+" "+e.Name)
}

// A volume's create and remove are reported once each, after the record;
// a refused remove (in use) reports nothing.
func TestVolumeEvents(t *testing.T) {
	testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	layout, st := storetest.Open(t)
	log := &eventLog{}
	inUse := true
	s := New(Options{Layout: layout, Store: st, Events: log, Users: func(_ *store.Tx, name string) []User {
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
	if got := log.got; len(got) != 2 || got[0] != "volume create data" || got[1] != "volume remove data" {
		t.Fatalf("events %q, want the create and the remove", got)
	}
}
