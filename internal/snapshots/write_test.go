package snapshots

import (
	"errors"
	"os"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// A file the caller adds (the saved agent's host key) is in the
// manifest with the VMM's: a lookup verifies it, and a change to it
// makes the snapshot damaged. Names that would leave the directory or
// replace the manifest are refused.
func TestWriteFile(t *testing.T) {
	s, _ := newStore(t)
	k := memKey()
	p, err := s.Prepare(k, Origin{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Create(); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, p)
	for _, bad := range []string{"", "../x", "a/b", ManifestFile} {
		if err := p.WriteFile(bad, []byte("x")); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("WriteFile(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := p.WriteFile(HostKeyFile, []byte("ssh-ed25519 AAAA hold\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	sn, ok, _ := s.Lookup(k)
	if !ok || len(sn.Files) != 3 {
		t.Fatalf("Lookup = %+v, %v; want the state, memory and host key", sn.Files, ok)
	}
	if b, err := sn.ReadFile(HostKeyFile); err != nil || string(b) != "ssh-ed25519 AAAA hold\n" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	if err := os.WriteFile(sn.Path(HostKeyFile), []byte("ssh-ed25519 BBBB evil\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Lookup(k); ok {
		t.Fatal("Lookup handed out a snapshot whose host key changed")
	}
}
