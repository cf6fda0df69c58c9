package vms

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeVolumes is the named volume catalog and the host's shares and
// directory images, as volumes.Service and volumes.Host are.
type fakeVolumes struct {
	h      *host
	vols   map[string]volumes.Volume
	claims map[string]string // volume -> vm id
	shares map[string]volumes.Share
	pods   map[string]bool // pod share directories made
	// podImages are the images mounted under pod shares, by target.
	podImages map[string]string
	// failShare fails the nth share start (1-based; 0 never).
	failShare, starts int
}

func newFakeVolumes(h *host) *fakeVolumes {
	return &fakeVolumes{h: h, vols: map[string]volumes.Volume{}, claims: map[string]string{}, shares: map[string]volumes.Share{}, pods: map[string]bool{}, podImages: map[string]string{}}
}

func (v *fakeVolumes) add(name, uuid string) { v.vols[name] = volumes.Volume{Name: name, UUID: uuid} }

func (v *fakeVolumes) Get(name string) (volumes.Volume, error) {
	vol, ok := v.vols[name]
	if !ok {
		return vol, fmt.Errorf("volume %q: %w", name, errdefs.ErrNotFound)
	}
	return vol, nil
}

func (v *fakeVolumes) Path(name string) string { return "/volumes/" + name + "/volume.ext4" }

func (v *fakeVolumes) Claim(name, vmID string) (volumes.Volume, error) {
	if err := v.h.do("volume.claim"); err != nil {
		return volumes.Volume{}, err
	}
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	if holder := v.claims[name]; holder != "" && holder != vmID {
		return volumes.Volume{}, fmt.Errorf("volume %s: %w: held by %s", name, errdefs.ErrConflict, holder)
	}
	v.claims[name] = vmID
	return v.vols[name], nil
}

func (v *fakeVolumes) Unclaim(name, vmID string) error {
	if err := v.h.do("volume.unclaim"); err != nil {
		return err
	}
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	if v.claims[name] == vmID {
		delete(v.claims, name)
	}
	return nil
}

func (v *fakeVolumes) UnclaimAll(vmID string) error {
	if err := v.h.do("volume.unclaimall"); err != nil {
		return err
	}
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	for name, holder := range v.claims {
		if holder == vmID {
			delete(v.claims, name)
		}
	}
	return nil
}

func (v *fakeVolumes) StartShare(s volumes.Share) (proc.Identity, error) {
	v.starts++
	if v.starts == v.failShare {
		return proc.Identity{}, fmt.Errorf("virtiofsd for %s died", s.Dir)
	}
	if err := v.h.do("share.start"); err != nil {
		return proc.Identity{}, err
	}
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	v.shares[s.Socket] = s
	return proc.Identity{PID: 1000 + v.starts, StartTime: 1, BootID: "fake"}, nil
}

func (v *fakeVolumes) StopShare(_ proc.Identity, socket, _ string) error {
	if err := v.h.do("share.stop"); err != nil {
		return err
	}
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	delete(v.shares, socket)
	return nil
}

func (v *fakeVolumes) StopSharesOf(vmID string) error {
	if err := v.h.do("share.stopall"); err != nil {
		return err
	}
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	for sock, s := range v.shares {
		if s.VMID == vmID {
			delete(v.shares, sock)
		}
	}
	return nil
}

// running is how many virtiofsd of vmID run.
func (v *fakeVolumes) running(vmID string) int {
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	n := 0
	for _, s := range v.shares {
		if s.VMID == vmID {
			n++
		}
	}
	return n
}

// BuildImage writes a file with an ext4 superblock carrying a UUID made
// from the directory's name.
func (v *fakeVolumes) BuildImage(_ context.Context, dir, path string, _ int64) (string, error) {
	if err := v.h.do("image.build"); err != nil {
		return "", err
	}
	// The stage hands over the directory's open file (/proc/PID/fd/N/):
	// what it names is what the UUID says.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	uuid := fakeUUID(real)
	return uuid, os.WriteFile(path, superblock(uuid), 0o600)
}

// fakeUUID is a UUID derived from s (its first bytes, zero-padded).
func fakeUUID(s string) string {
	var u [16]byte
	copy(u[:], strings.TrimPrefix(s, "/"))
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// superblock is the start of an ext4 file system with uuid.
func superblock(uuid string) []byte {
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint16(b[1024+0x38:], 0xEF53)
	u, _ := hex.DecodeString(strings.ReplaceAll(uuid, "-", ""))
	copy(b[1024+0x68:], u)
	return b
}

func (v *fakeVolumes) MakePod(dir string) error {
	if err := v.h.do("pod.make"); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { // the share's virtiofsd wants it there
		return err
	}
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	v.pods[dir] = true
	return nil
}

func (v *fakeVolumes) ReleasePod(dir string) error {
	if err := v.h.do("pod.release"); err != nil {
		return err
	}
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	delete(v.pods, dir)
	return nil
}

func (v *fakeVolumes) MountPodImage(_, image, target string) error {
	if err := v.h.do("pod.image.mount"); err != nil {
		return err
	}
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	v.podImages[target] = image
	return nil
}

func (v *fakeVolumes) UnmountPodImage(target string) error {
	if err := v.h.do("pod.image.unmount"); err != nil {
		return err
	}
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	delete(v.podImages, target)
	return nil
}
