package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "banger.db")
	s, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, p
}

func TestRecordsPersist(t *testing.T) {
	s, p := open(t)
	img := api.Image{ID: "abc", Name: "docker.io/library/debian:bookworm", SizeBytes: 7}
	if err := s.Put(Images, img.Name, img); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s2.Close() }()
	got, err := Get[api.Image](s2, Images, img.Name)
	if err != nil || got.ID != "abc" || got.SizeBytes != 7 {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	_, err = Get[api.Image](s2, Images, "nope")
	if !errors.Is(err, errdefs.ErrNotFound) || err.Error() != `image "nope": not found` {
		t.Fatalf("missing record: %v", err)
	}
}

func TestCreateRefusesDuplicate(t *testing.T) {
	s, _ := open(t)
	create := func() error {
		return s.Update(func(tx *Tx) error { return tx.Create(VMs, "dev", api.VM{Name: "dev"}) })
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}
	if err := create(); !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("second create: want ErrExists, got %v", err)
	}
}

func TestUpdateRollsBackOnError(t *testing.T) {
	s, _ := open(t)
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if err := tx.Put(Kernels, "k", api.Kernel{Name: "k"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := Get[api.Kernel](s, Kernels, "k"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("write survived a failed transaction: %v", err)
	}
}

// Concurrent read-modify-write transactions must serialize: 50 goroutines
// each take the lowest free slot, and every slot is taken exactly once.
func TestTransactionsSerialize(t *testing.T) {
	s, _ := open(t)
	var wg sync.WaitGroup
	got := make([]int, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(func(tx *Tx) error {
				for n := 0; ; n++ {
					key := fmt.Sprintf("%03d", n)
					if !tx.Has(Leases, key) {
						got[i] = n
						return tx.Put(Leases, key, i)
					}
				}
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, n := range got {
		if seen[n] {
			t.Fatalf("slot %d handed out twice", n)
		}
		seen[n] = true
	}
	all, err := ListAll[int](s, Leases)
	if err != nil || len(all) != 50 {
		t.Fatalf("ListAll = %d records, %v", len(all), err)
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	_, p := open(t)
	_, err := Open(p)
	if !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("second open: want ErrConflict, got %v", err)
	}
}
