// Package storetest helps tests of the packages whose records the store
// keeps: a fresh layout with its database open, and a check that a record
// type still reads and writes the JSON existing databases hold.
package storetest

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/store"
)

// Open returns a layout rooted in a temporary directory, with its
// directories created and its database open until the test ends.
func Open(t testing.TB) (paths.Layout, *store.Store) {
	t.Helper()
	layout := paths.Rooted(t.TempDir())
	if err := layout.Ensure(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(layout.Database())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return layout, st
}

// KeepsShape checks record type T against file, a record as an earlier
// version wrote it (json.MarshalIndent with two spaces, then a newline):
// it must decode with no unknown field into want, and encode back to the
// same bytes. A renamed, retyped or dropped field fails one of the two.
func KeepsShape[T any](t testing.TB, file string, want T) {
	t.Helper()
	old, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(old))
	dec.DisallowUnknownFields()
	var got T
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%s no longer decodes: %v", file, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s decodes to\n%+v\nwant\n%+v", file, got, want)
	}
	again, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(again, '\n'), old) {
		t.Fatalf("%s encodes differently now:\n%s\nwas\n%s", file, again, old)
	}
}
