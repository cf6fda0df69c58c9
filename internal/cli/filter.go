package cli

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/labels"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// filters are --filter KEY=VALUE pairs with docker's semantics: values of
// one key OR, different keys AND, and labels AND (a VM or image must have
// every label given, as the daemon's own label filter says; package
// labels). Keys are canonical (aliases resolved).
type filters map[string][]string

// parseFilters reads --filter values; keys maps every accepted key (and
// alias: docker's "status" for "state") to its canonical name.
func parseFilters(vals []string, keys map[string]string) (filters, error) {
	f := filters{}
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		canon, known := keys[strings.ToLower(strings.TrimSpace(k))]
		if !ok || !known {
			return nil, fmt.Errorf("%w: --filter %q: want KEY=VALUE with KEY one of %s", errdefs.ErrInvalid, v, strings.Join(filterKeyNames(keys), ", "))
		}
		f[canon] = append(f[canon], val)
	}
	return f, nil
}

// filterKeyNames lists the canonical filter keys, sorted.
func filterKeyNames(keys map[string]string) []string {
	var names []string
	for name, canon := range keys {
		if name == canon {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// match reports whether some value of key passes ok; a key without values
// does not filter.
func (f filters) match(key string, ok func(string) bool) bool {
	vals := f[key]
	return len(vals) == 0 || slices.ContainsFunc(vals, ok)
}

// vmFilterKeys are ps's filter keys.
var vmFilterKeys = map[string]string{
	"id": "id", "name": "name", "state": "state", "status": "state",
	"label": "label", "image": "image", "ancestor": "image",
}

// vmFilter returns ps's filter: id (a prefix), name (a regular expression,
// as docker's), state (exact), label (KEY or KEY=VALUE) and image (the
// name the VM was created from, or an image id prefix).
func vmFilter(f filters) (func(api.VM) bool, error) {
	names := make([]*regexp.Regexp, 0, len(f["name"]))
	for _, n := range f["name"] {
		re, err := regexp.Compile(n)
		if err != nil {
			return nil, fmt.Errorf("%w: --filter name=%s: %w", errdefs.ErrInvalid, n, err)
		}
		names = append(names, re)
	}
	return func(vm api.VM) bool {
		return f.match("id", func(v string) bool { return v != "" && strings.HasPrefix(vm.ID, v) }) &&
			(len(names) == 0 || slices.ContainsFunc(names, func(re *regexp.Regexp) bool { return re.MatchString(vm.Name) })) &&
			f.match("state", func(v string) bool { return string(vm.State) == v }) &&
			labels.Match(vm.Spec.Labels, f["label"]) &&
			f.match("image", func(v string) bool {
				return sameImage(v, vm.Spec.Image) || len(v) >= 4 && strings.HasPrefix(vm.ImageID, v)
			})
	}, nil
}

// sameImage reports whether two image references name the same image
// ("busybox" and "docker.io/library/busybox:latest").
func sameImage(a, b string) bool {
	na, errA := imagepull.NormalizeName(a)
	nb, errB := imagepull.NormalizeName(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return na == nb
}

// imageFilterKeys are image ls's filter keys.
var imageFilterKeys = map[string]string{
	"name": "name", "reference": "name", "label": "label", "source": "source",
}

// imageFilter returns image ls's filter: name (a glob over the name with
// or without its tag, docker's "reference"), label (the image config's
// labels) and source (pull or import). A glob's * does not cross a "/", as
// in docker.
func imageFilter(f filters) (func(api.Image) bool, error) {
	for _, p := range f["name"] {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("%w: --filter name=%s: %w", errdefs.ErrInvalid, p, err)
		}
	}
	return func(img api.Image) bool {
		return f.match("name", func(p string) bool { return nameMatches(p, img.Name) }) &&
			labels.Match(img.Config.Labels, f["label"]) &&
			f.match("source", func(v string) bool { return img.Source == v })
	}, nil
}

// nameMatches matches a glob against an image's canonical name, its
// familiar name, and both without the tag.
func nameMatches(pattern, canonical string) bool {
	familiar := imagepull.FamiliarName(canonical)
	for _, n := range []string{canonical, familiar, imagepull.Repository(canonical), imagepull.Repository(familiar)} {
		if ok, _ := path.Match(pattern, n); ok {
			return true
		}
	}
	return false
}

// keep returns the items keep accepts.
func keep[T any](items []T, ok func(T) bool) []T {
	out := items[:0:0]
	for _, it := range items {
		if ok(it) {
			out = append(out, it)
		}
	}
	return out
}
