package archive

import (
	"errors"
	"io"
	"io/fs"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// A full disk while unpacking is the host's trouble, not a bad archive:
// the error must not say "invalid argument".
func TestEntryErrBlamesTheDiskNotTheArchive(t *testing.T) {
	full := entryErr("lib/modules/x.ko", &fs.PathError{Op: "write", Path: "/state/tmp/x.ko", Err: syscall.ENOSPC})
	if errors.Is(full, errdefs.ErrInvalid) || !errors.Is(full, syscall.ENOSPC) {
		t.Errorf("full disk: %v", full)
	}
	bad := entryErr("lib/modules/x.ko", io.ErrUnexpectedEOF)
	if !errors.Is(bad, errdefs.ErrInvalid) {
		t.Errorf("a truncated entry: %v", bad)
	}
}
