package events

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Filter selects events, as docker's event filters do: the values of one
// key are alternatives, different keys must all hold. The zero Filter
// takes every event.
type Filter struct {
	Types   []Type
	Actions []Action
	// VMs are ids, id prefixes or names; only VM events match them.
	VMs []string
	// Images, Volumes and Networks are names or ids of images, volumes
	// and networks.
	Images   []string
	Volumes  []string
	Networks []string
	// Labels are KEY or KEY=VALUE: an attribute KEY (with that value).
	Labels []string
}

// The keys of --filter, in help order; "event" is docker's name for
// action.
var filterKeys = []string{"type", "action", "event", "vm", "image", "volume", "network", "label"}

// ParseFilter reads KEY=VALUE filters (`--filter type=vm`). Errors wrap
// errdefs.ErrInvalid and name the filter and what is allowed.
func ParseFilter(args []string) (Filter, error) {
	var f Filter
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || v == "" || strings.ContainsAny(a, "\x00\n") {
			return f, fmt.Errorf("%w: filter %q: want KEY=VALUE with KEY one of %s", errdefs.ErrInvalid, a, strings.Join(filterKeys, ", "))
		}
		switch k {
		case "type":
			if !slices.Contains(Types, Type(v)) {
				return f, fmt.Errorf("%w: filter %q: unknown type; want one of %s", errdefs.ErrInvalid, a, join(Types))
			}
			f.Types = append(f.Types, Type(v))
		case "action", "event":
			if !slices.Contains(Actions, Action(v)) {
				return f, fmt.Errorf("%w: filter %q: unknown action; want one of %s", errdefs.ErrInvalid, a, join(Actions))
			}
			f.Actions = append(f.Actions, Action(v))
		case "vm":
			f.VMs = append(f.VMs, v)
		case "image":
			f.Images = append(f.Images, v)
		case "volume":
			f.Volumes = append(f.Volumes, v)
		case "network":
			f.Networks = append(f.Networks, v)
		case "label":
			f.Labels = append(f.Labels, v)
		default:
			return f, fmt.Errorf("%w: filter %q: unknown key %q; want one of %s", errdefs.ErrInvalid, a, k, strings.Join(filterKeys, ", "))
		}
	}
	return f, nil
}

// Args is f as ParseFilter reads it.
func (f Filter) Args() []string {
	var out []string
	add := func(k string, vs []string) {
		for _, v := range vs {
			out = append(out, k+"="+v)
		}
	}
	add("type", strs(f.Types))
	add("action", strs(f.Actions))
	add("vm", f.VMs)
	add("image", f.Images)
	add("volume", f.Volumes)
	add("network", f.Networks)
	add("label", f.Labels)
	return out
}

// Match reports whether f takes e.
func (f Filter) Match(e Event) bool {
	return anyOf(f.Types, func(t Type) bool { return e.Type == t }) &&
		anyOf(f.Actions, func(a Action) bool { return e.Action == a }) &&
		anyOf(f.VMs, func(v string) bool { return e.Type == TypeVM && object(e, v) }) &&
		anyOf(f.Images, func(v string) bool { return e.Type == TypeImage && object(e, v) }) &&
		anyOf(f.Volumes, func(v string) bool { return e.Type == TypeVolume && object(e, v) }) &&
		anyOf(f.Networks, func(v string) bool { return e.Type == TypeNetwork && object(e, v) }) &&
		allOf(f.Labels, func(l string) bool {
			k, v, hasValue := strings.Cut(l, "=")
			got, ok := e.Attributes[k]
			return ok && (!hasValue || got == v)
		})
}

// object reports whether ref names e's object: its name, its id, or (at
// least 3 characters of) its id's prefix, as `banger` commands take them.
func object(e Event, ref string) bool {
	return e.Name == ref || e.ID == ref || (len(ref) >= 3 && strings.HasPrefix(e.ID, ref))
}

// anyOf is true when vs is empty or one of them holds (one key's values
// are alternatives).
func anyOf[T any](vs []T, ok func(T) bool) bool {
	return len(vs) == 0 || slices.ContainsFunc(vs, ok)
}

// allOf is true when every one of vs holds (labels, as docker's).
func allOf[T any](vs []T, ok func(T) bool) bool {
	for _, v := range vs {
		if !ok(v) {
			return false
		}
	}
	return true
}

// ParseBound reads a --since or --until: a sequence number (digits), an
// RFC 3339 time, or a duration before now ("10m", "1h30m"), as docker
// events takes them (except that bare digits are a sequence number, not
// a Unix time). Errors wrap errdefs.ErrInvalid.
func ParseBound(s string, now time.Time) (Bound, error) {
	if s == "" {
		return Bound{}, nil
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return SeqBound(n), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return TimeBound(t), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return TimeBound(now.Add(-d)), nil
	}
	return Bound{}, fmt.Errorf("%w: %q: want a sequence number (12), an RFC 3339 time (2024-05-01T10:00:00Z) or a duration before now (10m)", errdefs.ErrInvalid, s)
}

func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func join[T ~string](vs []T) string { return strings.Join(strs(vs), ", ") }
