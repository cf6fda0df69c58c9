package ext4sb

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// The UUID mkfs.ext4 was given is the one read back.
func TestFileUUIDOfARealFileSystem(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v.ext4")
	const want = "0b5e1f6c-1f0e-4a57-9a4e-2b1d8a7c0e11"
	if out, err := exec.Command(testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs"), "-q", "-F", "-U", want, p, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	got, err := FileUUID(p)
	if err != nil || got != want {
		t.Fatalf("FileUUID = %q, %v; want %q", got, err, want)
	}
}

func TestReadUUIDRefusesWhatIsNotExt4(t *testing.T) {
	for name, b := range map[string][]byte{
		"short": make([]byte, 1100),
		"zeros": make([]byte, 4096),
	} {
		if _, err := ReadUUID(bytes.NewReader(b)); !errors.Is(err, ErrNotExt4) {
			t.Errorf("%s: %v; want ErrNotExt4", name, err)
		}
	}
	if _, err := FileUUID(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
