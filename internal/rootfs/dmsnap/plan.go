package dmsnap

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Prefixes of every name dmsnap gives a host object.
const (
	NamePrefix = "banger-"
	UUIDPrefix = "BANGER-"
)

// ChunkSectors is the snapshot's chunk size: 8 sectors = 4 KiB, the page
// and file system block size, so a guest block write copies one chunk.
const ChunkSectors = 8

// Limits of the kernel's names: DM_NAME_LEN 128 and the loop device's
// lo_file_name, LO_NAME_SIZE 64 (each with its NUL).
const (
	maxDMName    = 127
	maxLoopLabel = 63
)

// The parts of a VM's snapshot disk.
const (
	partOrigin = "origin"
	partCOW    = "cow"
)

// Spec is one VM's dm-snapshot disk.
type Spec struct {
	// VMID names every host object.
	VMID string
	// Image is the shared read-only image (its size must be a multiple of
	// 512 bytes).
	Image string
	// ImageSize is the image's size in bytes.
	ImageSize int64
	// COW is the per-VM copy-on-write file, created sparse when missing.
	// An existing COW file is reused: the snapshot is persistent, so a
	// VM's writes survive a host reboot.
	COW string
	// Part names the disk ("root" by default): `banger-<vm id>-<part>`.
	Part string
}

// Names are every name a disk's host objects get; Create hands them to
// the record callback before creating anything.
type Names struct {
	// DM is the dm device's name; the disk is /dev/mapper/<DM>.
	DM string `json:"dm"`
	// UUID is the dm device's UUID.
	UUID string `json:"uuid"`
	// OriginLabel and COWLabel label the loop devices (lo_file_name).
	OriginLabel string `json:"origin_label"`
	COWLabel    string `json:"cow_label"`
	// COW is the copy-on-write file.
	COW string `json:"cow"`
}

// Plan is a disk as values: what Create does, in order.
type Plan struct {
	VMID  string
	Names Names
	Image string
	// COWSize is the sparse COW file's size: big enough for every chunk
	// of the origin plus the exception store's metadata, so a guest that
	// rewrites its whole disk never invalidates the snapshot.
	COWSize int64
	// Sectors is the origin's (and the snapshot's) length.
	Sectors int64
}

var (
	vmIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	partRE = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// NewPlan builds the plan of a disk.
func NewPlan(s Spec) (Plan, error) {
	part := s.Part
	if part == "" {
		part = "root"
	}
	bad := func(f string, a ...any) (Plan, error) {
		return Plan{}, fmt.Errorf("dm-snapshot for vm %s: %w: "+f, append([]any{s.VMID, errdefs.ErrInvalid}, a...)...)
	}
	switch {
	case !vmIDRE.MatchString(s.VMID):
		return bad("vm id must be letters, digits, '.', '_' or '-'")
	case !partRE.MatchString(part) || part == partOrigin || part == partCOW:
		return bad("part %q must be lowercase letters, digits or '_', and not %q or %q", part, partOrigin, partCOW)
	case len(NamePrefix+s.VMID+"-"+partOrigin) > maxLoopLabel:
		return bad("vm id is too long for a loop device label (%d bytes at most)", maxLoopLabel-len(NamePrefix+"-"+partOrigin))
	case s.ImageSize <= 0 || s.ImageSize%512 != 0:
		return bad("image %s is %d bytes: want a positive multiple of 512", s.Image, s.ImageSize)
	case !filepath.IsAbs(s.Image) || !filepath.IsAbs(s.COW):
		return bad("image and COW paths must be absolute")
	}
	n := Names{
		DM:          NamePrefix + s.VMID + "-" + part,
		UUID:        UUIDPrefix + s.VMID + "-" + part,
		OriginLabel: NamePrefix + s.VMID + "-" + partOrigin,
		COWLabel:    NamePrefix + s.VMID + "-" + partCOW,
		COW:         s.COW,
	}
	if len(n.DM) > maxDMName {
		return bad("dm name %q is too long", n.DM)
	}
	return Plan{VMID: s.VMID, Names: n, Image: s.Image, COWSize: COWSize(s.ImageSize), Sectors: s.ImageSize / 512}, nil
}

// COWSize returns the size of a COW file that can hold every chunk of an
// origin of originBytes: the data, one 16-byte exception per chunk in
// 4 KiB metadata areas (256 per area), the header chunk, rounded up to
// whole MiB.
func COWSize(originBytes int64) int64 {
	const chunk = ChunkSectors * 512
	chunks := (originBytes + chunk - 1) / chunk
	areas := (chunks + 255) / 256
	size := (chunks + areas + 1) * chunk
	const mib = 1 << 20
	return (size + mib - 1) / mib * mib
}

// Table is the dm table of the snapshot target over the given origin and
// COW devices: persistent (P), ChunkSectors-sector chunks.
func (p Plan) Table(origin, cow string) string {
	return fmt.Sprintf("0 %d snapshot %s %s P %d", p.Sectors, origin, cow, ChunkSectors)
}

// CreateArgv is the dmsetup command that creates the snapshot device.
func (p Plan) CreateArgv(origin, cow string) []string {
	return []string{"dmsetup", "create", p.Names.DM, "--uuid", p.Names.UUID, "--table", p.Table(origin, cow)}
}

// MknodesArgv makes sure /dev/mapper/<name> exists on hosts without udev.
func (p Plan) MknodesArgv() []string { return []string{"dmsetup", "mknodes", p.Names.DM} }

// RemoveArgv is the dmsetup command that removes a dm device.
func RemoveArgv(name string) []string { return []string{"dmsetup", "remove", name} }

// Path is the disk's device path.
func (p Plan) Path() string { return "/dev/mapper/" + p.Names.DM }

// ParseName splits a dm name or loop label banger gave into its VM id and
// part. The part is what follows the last '-' and must look like one, so
// `banger-a-b-root` belongs to VM "a-b", never to VM "a".
func ParseName(name string) (vmID, part string, ok bool) {
	rest, found := strings.CutPrefix(name, NamePrefix)
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return "", "", false
	}
	vmID, part = rest[:i], rest[i+1:]
	if !vmIDRE.MatchString(vmID) || !partRE.MatchString(part) {
		return "", "", false
	}
	return vmID, part, true
}

// ownedBy reports whether a dm name or loop label belongs to vmID.
func ownedBy(name, vmID string) bool {
	id, _, ok := ParseName(name)
	return ok && id == vmID
}

// loopDev returns /dev/loopN for a loop number.
func loopDev(n int) string { return "/dev/loop" + strconv.Itoa(n) }
