package dockerapi

import (
	"slices"

	"github.com/bangerdev/banger/internal/labels"
)

// parseFiltersOf reads the filters query (parseFilters), refusing a key
// not in keys as Docker does.
func parseFiltersOf(raw string, keys []string) (filters, error) {
	f, err := parseFilters(raw)
	if err == nil {
		err = f.check(keys)
	}
	return f, err
}

// anyOf says whether key is not given, or one of its values passes ok
// (one key's values are alternatives).
func (f filters) anyOf(key string, ok func(string) bool) bool {
	vs, set := f[key]
	return !set || slices.ContainsFunc(vs, ok)
}

// pruneKeeps says whether a prune's label filters spare an object with
// set: not every label (KEY or KEY=VALUE) holds, or one label! does.
func (f filters) pruneKeeps(set map[string]string) bool {
	return !labels.Match(set, f["label"]) ||
		slices.ContainsFunc(f["label!"], func(l string) bool { return labels.Match(set, []string{l}) })
}
