// Package bootcfg is the boot configuration banger's host hands to the guest
// agent: the format of the config drive, shared by the host (Write) and
// banger-agent (Read), and the few small values on the kernel command line
// (ParseCmdline).
//
// # Why a drive
//
// The kernel command line is world-readable in the guest (/proc/cmdline) and
// logged on the console, so it carries only small, public values: root=,
// init=, banger.cfg=<device>. Everything else — the agent's SSH host key,
// authorized keys, the main process, env, the entropy seed — travels on a
// small raw, read-only virtio-blk disk (the second drive, /dev/vdb in
// practice) that the host writes before boot and deletes after the VM stops.
//
// # Format, version 1
//
// All integers are little-endian. The drive starts with a 48-byte header:
//
//	offset size field
//	0      8    magic "BANGRCFG"
//	8      4    format version (1)
//	12     4    payload length in bytes (at most MaxPayload)
//	16     32   SHA-256 of the payload
//	48     n    payload: a JSON document (Config)
//
// and is zero-padded to a multiple of 512 bytes (block devices are read in
// sectors). A reader rejects a wrong magic, an unknown version, an oversized
// length or a checksum mismatch before it parses any JSON, so a stale or
// foreign disk never half-configures a guest. Unknown JSON fields are
// ignored (a newer host may add optional ones); a change that older agents
// must not misread bumps Version.
//
// Version 2 is version 1 with mounts: a drive that lists volumes is
// written as version 2, so an agent that predates them refuses it ("update
// banger-agent in the image") instead of booting without the volumes.
// Version 3 is a held boot (Config.Hold), which an older agent would
// otherwise take for a VM with nothing to run.
package bootcfg

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Magic opens every config drive.
const Magic = "BANGRCFG"

// Version is the newest format version this package reads; it writes it
// only for configs that need it (see versionOf), so an older agent still
// reads every other drive.
const Version = 3

// versionOf is the oldest format version that carries c.
func versionOf(c Config) uint32 {
	if c.Hold {
		return 3
	}
	if len(c.Mounts) > 0 {
		return 2
	}
	return 1
}

// HeaderSize is the size of the fixed header before the JSON payload.
const HeaderSize = 48

// SectorSize is the granularity the drive is padded to.
const SectorSize = 512

// MaxPayload bounds the JSON payload, so a corrupt length never makes the
// guest allocate more than this.
const MaxPayload = 4 << 20

// ErrFormat is wrapped by every error about a malformed drive.
var ErrFormat = errors.New("bootcfg: not a valid banger config drive")

// Encode validates c and returns the drive image: header, payload, padding.
func Encode(c Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("bootcfg: encode: %w", err)
	}
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("bootcfg: config is %d bytes, more than the %d the format allows", len(payload), MaxPayload)
	}
	size := HeaderSize + len(payload)
	size = (size + SectorSize - 1) / SectorSize * SectorSize
	if c.Hold {
		if size > HeldDriveSize {
			return nil, fmt.Errorf("bootcfg: held config is %d bytes, more than a held drive's %d", size, HeldDriveSize)
		}
		size = HeldDriveSize
	}
	buf := make([]byte, size)
	copy(buf, Magic)
	binary.LittleEndian.PutUint32(buf[8:], versionOf(c))
	binary.LittleEndian.PutUint32(buf[12:], uint32(len(payload)))
	sum := sha256.Sum256(payload)
	copy(buf[16:48], sum[:])
	copy(buf[HeaderSize:], payload)
	return buf, nil
}

// Write writes c as a config drive image to path (created 0600: it holds
// the agent's private host key), replacing any file there.
func Write(path string, c Config) error {
	b, err := Encode(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("bootcfg: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("bootcfg: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("bootcfg: sync %s: %w", path, err)
	}
	return f.Close()
}

// Read reads and validates the config drive at device (a block device in
// the guest, or an image file).
func Read(device string) (Config, error) {
	f, err := os.Open(device)
	if err != nil {
		return Config{}, fmt.Errorf("bootcfg: %w", err)
	}
	defer func() { _ = f.Close() }()
	c, err := Decode(f)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", device, err)
	}
	return c, nil
}

// Decode reads one config drive image from r. It reads only the header and
// the payload, never more than HeaderSize+MaxPayload bytes.
func Decode(r io.Reader) (Config, error) {
	var hdr [HeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Config{}, fmt.Errorf("%w: header: %w", ErrFormat, err)
	}
	if !bytes.Equal(hdr[:8], []byte(Magic)) {
		return Config{}, fmt.Errorf("%w: bad magic %q", ErrFormat, hdr[:8])
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v < 1 || v > Version {
		return Config{}, fmt.Errorf("%w: format version %d, this agent reads version %d (update banger-agent in the image)", ErrFormat, v, Version)
	}
	n := binary.LittleEndian.Uint32(hdr[12:])
	if n > MaxPayload {
		return Config{}, fmt.Errorf("%w: payload length %d exceeds %d", ErrFormat, n, MaxPayload)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return Config{}, fmt.Errorf("%w: payload: %w", ErrFormat, err)
	}
	if sum := sha256.Sum256(payload); !bytes.Equal(sum[:], hdr[16:48]) {
		return Config{}, fmt.Errorf("%w: checksum mismatch", ErrFormat)
	}
	var c Config
	if err := json.Unmarshal(payload, &c); err != nil {
		return Config{}, fmt.Errorf("%w: json: %w", ErrFormat, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
