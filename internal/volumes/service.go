package volumes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// MinVolumeSize is the smallest named volume: room for a journal.
const MinVolumeSize = 16 * units.MiB

// Volume is a named volume: an ext4 disk under the daemon's state
// directory, kept until `banger volume rm`, attached to at most one
// running VM at a time (it is one file system, not a shared directory).
// Its JSON names are the database format.
type Volume struct {
	Name      string    `json:"name"`
	SizeBytes int64     `json:"size_bytes"`
	UUID      string    `json:"uuid"`
	Created   time.Time `json:"created"`
	// AttachedTo is the id of the VM that holds it while that VM runs.
	AttachedTo string `json:"attached_to,omitempty"`
	// Labels are the user's KEY=VALUE metadata (docker volume create
	// --label; compose finds its project's volumes by them); banger only
	// keeps them, and the Docker API shows and filters by them (banger's
	// own API does not carry them yet).
	Labels map[string]string `json:"labels,omitempty"`
}

// CreateOptions are a new volume's size (0: DefaultVolumeSize) and
// labels.
type CreateOptions struct {
	SizeBytes int64
	Labels    map[string]string
}

// User is a VM whose spec mounts a volume.
type User struct{ ID, Name string }

// Info is a volume as `volume inspect` shows it.
type Info struct {
	Volume
	// Path is the volume's ext4 file on the host.
	Path string
	// AllocatedBytes is what the sparse file takes on the host's disk.
	AllocatedBytes int64
	// UsedBy are the VMs whose spec mounts it.
	UsedBy []User
}

// Options configure a Service.
type Options struct {
	Layout paths.Layout
	Store  *store.Store
	Log    *slog.Logger
	// Users lists, inside tx, the VMs whose spec mounts the volume (the
	// VM service answers); nil means none.
	Users func(tx *store.Tx, name string) []User
	// Events hears of each volume created and removed; nil reports none.
	Events events.Publisher
}

// Service is the catalog of named volumes.
type Service struct {
	opts Options
	// mu serializes creates and removes: a name is made or deleted once.
	mu sync.Mutex
}

// New returns the service.
func New(opts Options) *Service {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Users == nil {
		opts.Users = func(*store.Tx, string) []User { return nil }
	}
	opts.Events = events.Or(opts.Events)
	return &Service{opts: opts}
}

// emit reports action on the volume name.
func (s *Service) emit(action events.Action, name string) {
	s.opts.Events.Publish(events.Event{Type: events.TypeVolume, Action: action, ID: name, Name: name})
}

// Path is the ext4 file of volume name.
func (s *Service) Path(name string) string { return s.opts.Layout.VolumeDisk(name) }

func notFound(name string) error {
	return fmt.Errorf("volume %q: %w; create it with `banger volume create %s`", name, errdefs.ErrNotFound, name)
}

func getTx(tx *store.Tx, name string) (Volume, error) {
	var v Volume
	if err := tx.Get(store.Volumes, name, &v); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return v, notFound(name)
		}
		return v, err
	}
	return v, nil
}

// Get returns volume name.
func (s *Service) Get(name string) (Volume, error) {
	var v Volume
	err := s.opts.Store.View(func(tx *store.Tx) error {
		var err error
		v, err = getTx(tx, name)
		return err
	})
	return v, err
}

// Inspect returns volume name with its file, its use of the host's disk
// and the VMs that mount it.
func (s *Service) Inspect(name string) (Info, error) {
	var in Info
	err := s.opts.Store.View(func(tx *store.Tx) error {
		v, err := getTx(tx, name)
		in = Info{Volume: v, Path: s.Path(name), UsedBy: s.opts.Users(tx, name)}
		return err
	})
	if err != nil {
		return Info{}, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(in.Path, &st); err == nil {
		in.AllocatedBytes = st.Blocks * 512
	}
	return in, nil
}

// List returns every volume, by name.
func (s *Service) List() ([]Volume, error) {
	vs, err := store.ListAll[Volume](s.opts.Store, store.Volumes)
	if vs == nil {
		vs = []Volume{}
	}
	return vs, err
}

// Create makes volume name of size bytes (0: DefaultVolumeSize), empty
// and sparse. The file is made aside and moved into place before the
// record is written, so a crash leaves at most a directory gc removes.
func (s *Service) Create(ctx context.Context, name string, size int64) (Volume, error) {
	return s.CreateWith(ctx, name, CreateOptions{SizeBytes: size})
}

// CreateWith is Create with labels.
func (s *Service) CreateWith(ctx context.Context, name string, o CreateOptions) (Volume, error) {
	size := o.SizeBytes
	if err := CheckName(name); err != nil {
		return Volume{}, err
	}
	if size == 0 {
		size = DefaultVolumeSize
	}
	if size < MinVolumeSize {
		return Volume{}, fmt.Errorf("%w: volume %s: size %s is below the %s minimum", errdefs.ErrInvalid, name, units.FormatSize(size), units.FormatSize(MinVolumeSize))
	}
	size = (size + units.MiB - 1) / units.MiB * units.MiB
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.Get(name); err == nil {
		return Volume{}, fmt.Errorf("volume %q: %w", name, errdefs.ErrExists)
	}
	dir, staging := s.opts.Layout.Volume(name), s.opts.Layout.Volume(".new-"+name)
	for _, d := range []string{dir, staging} {
		if err := os.RemoveAll(d); err != nil { // a crashed create's leftovers
			return Volume{}, err
		}
	}
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return Volume{}, err
	}
	uuid, err := MakeVolume(ctx, staging+"/volume.ext4", size)
	if err == nil {
		err = os.Rename(staging, dir)
	}
	v := Volume{Name: name, SizeBytes: size, UUID: uuid, Created: time.Now().UTC(), Labels: o.Labels}
	if err == nil {
		err = s.opts.Store.Update(func(tx *store.Tx) error { return tx.Create(store.Volumes, name, v) })
	}
	if err != nil {
		_ = os.RemoveAll(staging)
		_ = os.RemoveAll(dir)
		return Volume{}, fmt.Errorf("create volume %s: %w", name, err)
	}
	s.opts.Log.Info("volume created", "volume", name, "size", size)
	s.emit(events.Create, name)
	return v, nil
}

// Remove deletes volume name and its data. A volume a VM mounts (running
// or not) is refused, naming the VMs.
func (s *Service) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.opts.Store.Update(func(tx *store.Tx) error {
		v, err := getTx(tx, name)
		if err != nil {
			return err
		}
		if users := s.opts.Users(tx, name); len(users) > 0 {
			names := make([]string, len(users))
			for i, u := range users {
				names[i] = u.Name
			}
			return fmt.Errorf("volume %s: %w: it is in use by vm %s; remove them first (banger rm %s)", name, errdefs.ErrConflict,
				strings.Join(names, ", "), strings.Join(names, " "))
		}
		if v.AttachedTo != "" {
			return fmt.Errorf("volume %s: %w: vm %s has it attached", name, errdefs.ErrConflict, v.AttachedTo)
		}
		return tx.Delete(store.Volumes, name)
	})
	if err != nil {
		return err
	}
	s.emit(events.Remove, name)
	if err := os.RemoveAll(s.opts.Layout.Volume(name)); err != nil {
		return fmt.Errorf("volume %s: its record is gone but its files stay (gc removes them): %w", name, err)
	}
	s.opts.Log.Info("volume removed", "volume", name)
	return nil
}

// Claim attaches volume name to VM vmID for as long as it runs; Unclaim
// ends that. A volume held by another VM that still mounts it is
// refused: two kernels writing one ext4 would corrupt it. A hold by a VM
// that no longer mounts it (gone) is taken over.
func (s *Service) Claim(name, vmID string) (Volume, error) {
	var v Volume
	err := s.opts.Store.Update(func(tx *store.Tx) error {
		var err error
		if v, err = getTx(tx, name); err != nil {
			return err
		}
		if v.AttachedTo != "" && v.AttachedTo != vmID {
			for _, u := range s.opts.Users(tx, name) {
				if u.ID == v.AttachedTo {
					return fmt.Errorf("volume %s: %w: vm %s has it attached; a named volume is one file system, mounted by one VM at a time: stop %s first", name, errdefs.ErrConflict, u.Name, u.Name)
				}
			}
		}
		v.AttachedTo = vmID
		return tx.Put(store.Volumes, name, v)
	})
	return v, err
}

// Unclaim detaches volume name from vmID; a volume vmID does not hold
// (or that is gone) is left as it is.
func (s *Service) Unclaim(name, vmID string) error {
	return s.opts.Store.Update(func(tx *store.Tx) error {
		v, err := getTx(tx, name)
		if errors.Is(err, errdefs.ErrNotFound) || (err == nil && v.AttachedTo != vmID) {
			return nil
		}
		if err != nil {
			return err
		}
		v.AttachedTo = ""
		return tx.Put(store.Volumes, name, v)
	})
}

// UnclaimAll detaches every volume vmID holds (its record of them was
// lost).
func (s *Service) UnclaimAll(vmID string) error {
	return s.opts.Store.Update(func(tx *store.Tx) error {
		vs, err := store.List[Volume](tx, store.Volumes)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if v.AttachedTo == vmID {
				v.AttachedTo = ""
				if err := tx.Put(store.Volumes, v.Name, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Object is one host object of the volumes: a named volume, or a
// directory no volume explains (a create that crashed).
type Object struct {
	Kind, Name, Owner string
	Orphan            bool
}

// Inventory lists the named volumes (owned by the VM that holds one)
// and the directories under the volumes directory no record explains.
func (s *Service) Inventory() []Object {
	vs, _ := s.List()
	var out []Object
	known := map[string]bool{}
	for _, v := range vs {
		known[v.Name] = true
		out = append(out, Object{Kind: "volume", Name: v.Name, Owner: v.AttachedTo})
	}
	orphans, _ := fsutil.Unlisted(s.opts.Layout.Volumes(), known)
	for _, dir := range orphans {
		out = append(out, Object{Kind: "volume-dir", Name: dir, Orphan: true})
	}
	return out
}

// GC removes (unless dryRun) the directories no volume explains and
// returns them; named volumes are the user's and stay.
func (s *Service) GC(dryRun bool) ([]Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fsutil.RemoveOrphans(s.Inventory(), Object.path, dryRun)
}

// path is the object's directory, when it is an orphan.
func (o Object) path() (string, bool) { return o.Name, o.Orphan }
