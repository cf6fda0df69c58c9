package kconfig

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// The markers scripts/bin2c wraps around the gzipped config when a kernel is
// built with CONFIG_IKCONFIG (kernel/configs.c).
var (
	ikcfgStart = []byte("IKCFG_ST")
	ikcfgEnd   = []byte("IKCFG_ED")
)

// maxConfig bounds a decompressed embedded config (real ones are ~250 KiB).
const maxConfig = 8 << 20

// ErrNoEmbedded says the kernel image carries no IKCONFIG copy.
var ErrNoEmbedded = errors.New("no embedded kernel config (built without CONFIG_IKCONFIG)")

// FromImage extracts and parses the config embedded in an uncompressed
// kernel image (an ELF vmlinux; a bzImage's payload must be extracted
// first).
func FromImage(image []byte) (Config, error) {
	i := bytes.Index(image, ikcfgStart)
	if i < 0 {
		return nil, ErrNoEmbedded
	}
	data := image[i+len(ikcfgStart):]
	if j := bytes.Index(data, ikcfgEnd); j >= 0 {
		data = data[:j]
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("embedded kernel config: %w", err)
	}
	zr.Multistream(false)
	raw, err := io.ReadAll(io.LimitReader(zr, maxConfig+1))
	if err != nil {
		return nil, fmt.Errorf("embedded kernel config: %w", err)
	}
	if len(raw) > maxConfig {
		return nil, fmt.Errorf("embedded kernel config larger than %d bytes", maxConfig)
	}
	return Parse(bytes.NewReader(raw))
}
