package guest

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
)

// payloads are the compressed-kernel formats a bzImage may carry, by magic
// and the command that decompresses a stream starting there (trailing data
// after the payload is ignored or tolerated by each).
var payloads = []struct {
	magic []byte
	argv  []string
}{
	{[]byte{0x02, 0x21, 0x4c, 0x18}, []string{"lz4", "-dc"}},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, []string{"zstd", "-dcq"}},
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, []string{"xz", "-dcq"}},
	{[]byte{0x1f, 0x8b, 0x08}, []string{"gzip", "-dcq"}},
}

// unpackVmlinux finds the compressed kernel inside a bzImage, as the
// kernel's scripts/extract-vmlinux does: at each candidate magic it tries
// the matching decompressor and keeps the first output that is an ELF.
func unpackVmlinux(bzImage, out string) error {
	b, err := os.ReadFile(bzImage)
	if err != nil {
		return err
	}
	for _, p := range payloads {
		if _, err := exec.LookPath(p.argv[0]); err != nil {
			continue
		}
		for off := bytes.Index(b, p.magic); off >= 0; {
			cmd := exec.CommandContext(context.Background(), p.argv[0], p.argv[1:]...)
			cmd.Stdin = bytes.NewReader(b[off:])
			data, _ := cmd.Output() // trailing bytes make some tools complain
			if isELF(data) {
				return os.WriteFile(out, data, 0o644)
			}
			next := bytes.Index(b[off+1:], p.magic)
			if next < 0 {
				break
			}
			off += 1 + next
		}
	}
	return errors.New("no compressed ELF kernel found (need lz4, zstd, xz or gzip)")
}

func isELF(b []byte) bool {
	if len(b) < 64 {
		return false
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	return f.Type == elf.ET_EXEC
}
