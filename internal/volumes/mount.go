package volumes

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/bangerdev/banger/internal/guestpaths"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Type is what backs a mount in the guest.
type Type string

// The mount types.
const (
	// TypeBind shares a host directory live, both ways (virtio-fs); `-v
	// /host:/guest`.
	TypeBind Type = "bind"
	// TypeVolume attaches a named volume, an ext4 disk banger keeps; `-v
	// NAME:/guest`.
	TypeVolume Type = "volume"
	// TypeImage copies a host directory into an ext4 image attached as a
	// drive; `--mount type=image,source=DIR,target=/guest`. It works on
	// every backend, but the guest's writes stay in the image.
	TypeImage Type = "image"
	// TypePod is a pod VM's share (see podshare.go): an empty directory
	// the daemon makes in the VM's runtime directory, a shared mount,
	// where the images of the pod's containers are mounted while the VM
	// runs; `--mount type=pod,target=/guest`. One per VM.
	TypePod Type = "pod"
)

// Mount is one volume of a VM, as `-v` or `--mount` gave it.
type Mount struct {
	Type Type `json:"type"`
	// Source is an absolute host path (TypeBind, TypeImage) or a volume
	// name (TypeVolume).
	Source string `json:"source"`
	// Target is the absolute, clean guest path it is mounted on.
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// SizeBytes sizes a TypeImage's ext4 (0: the content plus headroom).
	SizeBytes int64 `json:"size_bytes,omitempty"`
}

// Shared reports whether the guest sees m through virtio-fs (a shared
// directory, or the pod share, which is one): it needs the backend's and
// the kernel's virtio-fs, and the machine's state cannot be saved.
func (m Mount) Shared() bool { return m.Type == TypeBind || m.Type == TypePod }

// Flag renders m as the flag that gives it, for errors that name it:
// `-v SRC:DST[:ro]` or `--mount type=image,...`.
func (m Mount) Flag() string {
	if m.Type == TypePod {
		return "--mount type=pod,target=" + m.Target
	}
	if m.Type == TypeImage {
		s := "--mount type=image,source=" + m.Source + ",target=" + m.Target
		if m.ReadOnly {
			s += ",readonly"
		}
		if m.SizeBytes > 0 {
			s += ",size=" + units.FormatSize(m.SizeBytes)
		}
		return s
	}
	s := "-v " + m.Source + ":" + m.Target
	if m.ReadOnly {
		s += ":ro"
	}
	return s
}

// nameRE is a volume name: docker's rule, at most 64 characters.
// Compiled on first use: a counted repetition compiles to a program the
// size of its count, which every CLI start would pay at init.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`) })

// CheckName validates a volume name.
func CheckName(name string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("%w: volume name %q: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit", errdefs.ErrInvalid, name)
	}
	return nil
}

// ParseVolumeFlag parses a `-v` value: HOST:GUEST[:ro|:rw] shares a host
// directory (HOST is absolute), NAME:GUEST[:ro|:rw] attaches a named
// volume. The result passes Check.
func ParseVolumeFlag(s string) (Mount, error) {
	bad := func(why string) (Mount, error) {
		return Mount{}, fmt.Errorf("%w: -v %q: %s (want /HOST/DIR:/GUEST/DIR[:ro] or VOLUME:/GUEST/DIR[:ro])", errdefs.ErrInvalid, s, why)
	}
	parts := strings.Split(s, ":")
	var m Mount
	switch len(parts) {
	case 2:
	case 3:
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return bad("unknown option " + strconv.Quote(parts[2]) + ": want ro or rw")
		}
	case 1:
		return bad("no guest path")
	default:
		return bad("too many ':' (paths with ':' cannot be given to -v)")
	}
	src := parts[0]
	switch {
	case src == "":
		return bad("no host path or volume name")
	case strings.HasPrefix(src, "/"):
		m.Type, m.Source = TypeBind, path.Clean(src)
	case strings.HasPrefix(src, ".") || strings.Contains(src, "/") || strings.HasPrefix(src, "~"):
		return bad("host path " + strconv.Quote(src) + " is relative: give an absolute path, e.g. \"$PWD/" + strings.TrimPrefix(src, "./") + "\"")
	default:
		m.Type, m.Source = TypeVolume, src
	}
	m.Target = cleanTarget(parts[1])
	if err := m.check(); err != nil {
		return Mount{}, err
	}
	return m, nil
}

// ParseMountFlag parses a `--mount` value, comma-separated key=value
// pairs: type=bind|volume|image|pod, source (src), target (dst,
// destination), readonly (ro; alone or =true|false), and for images
// size=SIZE. The result passes Check.
func ParseMountFlag(s string) (Mount, error) {
	bad := func(why string) (Mount, error) {
		return Mount{}, fmt.Errorf("%w: --mount %q: %s (want type=bind|volume|image,source=SRC,target=/GUEST/DIR[,readonly] or type=pod,target=/GUEST/DIR)", errdefs.ErrInvalid, s, why)
	}
	var m Mount
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		k, v, hasValue := strings.Cut(kv, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		switch k {
		case "src":
			k = "source"
		case "dst", "destination":
			k = "target"
		case "ro":
			k = "readonly"
		}
		if seen[k] {
			return bad(strconv.Quote(k) + " is given twice")
		}
		seen[k] = true
		switch k {
		case "type":
			m.Type = Type(v)
			if m.Type != TypeBind && m.Type != TypeVolume && m.Type != TypeImage && m.Type != TypePod {
				return bad("type " + strconv.Quote(v) + ": want bind, volume, image or pod")
			}
		case "source":
			m.Source = v
		case "target":
			m.Target = cleanTarget(v)
		case "readonly":
			ro, err := strconv.ParseBool(v)
			if !hasValue {
				ro, err = true, nil
			}
			if err != nil {
				return bad("readonly=" + strconv.Quote(v) + ": want true or false")
			}
			m.ReadOnly = ro
		case "size":
			sz, err := units.ParseSize(v)
			if err != nil || sz <= 0 {
				return bad("size=" + strconv.Quote(v) + ": want a size such as 512M or 2G")
			}
			m.SizeBytes = sz
		case "":
			return bad("empty option")
		default:
			return bad("unknown option " + strconv.Quote(k))
		}
		if k != "readonly" && !hasValue {
			return bad(strconv.Quote(k) + " needs a value")
		}
	}
	if m.Type == "" {
		return bad("no type=")
	}
	if m.Type != TypeVolume && strings.HasPrefix(m.Source, "/") {
		m.Source = path.Clean(m.Source)
	}
	if err := m.check(); err != nil {
		return Mount{}, err
	}
	return m, nil
}

// cleanTarget cleans an absolute guest path ("/data/" is "/data"); a
// relative one is left for check to refuse.
func cleanTarget(t string) string {
	if strings.HasPrefix(t, "/") {
		return path.Clean(t)
	}
	return t
}

// reserved are guest paths the agent needs for itself; nothing is
// mounted on or under them.
var reserved = []string{"/proc", "/sys", "/dev", guestpaths.Dir}

// check validates one mount without looking at the host.
func (m Mount) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{errdefs.ErrInvalid, m.Flag()}, args...)...)
	}
	switch m.Type {
	case TypeBind, TypeImage:
		if !strings.HasPrefix(m.Source, "/") {
			return bad("host path %q is not absolute", m.Source)
		}
		if path.Clean(m.Source) != m.Source {
			return bad("host path %q is not clean (want %s)", m.Source, path.Clean(m.Source))
		}
	case TypeVolume:
		if err := CheckName(m.Source); err != nil {
			return fmt.Errorf("%s: %w", m.Flag(), err)
		}
	case TypePod:
		if m.Source != "" || m.ReadOnly {
			return bad("a pod share takes no source and is not read-only (the daemon makes it; its images are)")
		}
	default:
		return bad("unknown mount type %q", m.Type)
	}
	if strings.ContainsRune(m.Source, 0) || strings.ContainsRune(m.Target, 0) {
		return bad("a path holds a NUL byte")
	}
	switch {
	case m.Target == "":
		return bad("no guest path")
	case !strings.HasPrefix(m.Target, "/"):
		return bad("guest path %q is not absolute", m.Target)
	case path.Clean(m.Target) != m.Target:
		return bad("guest path %q is not clean (want %s)", m.Target, path.Clean(m.Target))
	case m.Target == "/":
		return bad("the guest path cannot be /: the image is the root file system")
	}
	for _, r := range reserved {
		if m.Target == r || strings.HasPrefix(m.Target, r+"/") {
			return bad("guest path %s is the guest's own %s", m.Target, r)
		}
	}
	if m.SizeBytes < 0 || (m.SizeBytes > 0 && m.Type != TypeImage) {
		return bad("size= applies to type=image only")
	}
	return nil
}

// Check validates a VM's mounts without looking at the host: each is
// well-formed (absolute clean paths, not on /, nor on the guest's /proc,
// /sys, /dev), and no two share a guest path. Errors wrap
// errdefs.ErrInvalid and name the flag.
func Check(ms []Mount) error {
	var errs []error
	targets := map[string]Mount{}
	pods := 0
	for _, m := range ms {
		if err := m.check(); err != nil {
			errs = append(errs, err)
			continue
		}
		if m.Type == TypePod {
			if pods++; pods > 1 {
				errs = append(errs, fmt.Errorf("%w: %s: a VM has one pod share", errdefs.ErrInvalid, m.Flag()))
				continue
			}
		}
		if prev, ok := targets[m.Target]; ok {
			errs = append(errs, fmt.Errorf("%w: %s: guest path %s is also the target of %s", errdefs.ErrInvalid, m.Flag(), m.Target, prev.Flag()))
			continue
		}
		targets[m.Target] = m
	}
	return errors.Join(errs...)
}
