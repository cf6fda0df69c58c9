package dockerapi

import (
	"encoding/json"
	"net/http"
	"slices"
)

// opsFilters is Docker's filters query: each key with its values.
type opsFilters map[string][]string

// parseOpsFilters reads the filters query — {"key":{"value":true}}, or
// {"key":["value"]} — refusing a key not in allowed, as Docker does.
func parseOpsFilters(raw string, allowed []string) (opsFilters, error) {
	out := opsFilters{}
	if raw == "" {
		return out, nil
	}
	var sets map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &sets); err == nil {
		for k, vs := range sets {
			for v, on := range vs {
				if on {
					out[k] = append(out[k], v)
				}
			}
		}
	} else {
		var lists map[string][]string
		if err := json.Unmarshal([]byte(raw), &lists); err != nil {
			return nil, badParam("invalid filters %q: %v", raw, err)
		}
		for k, vs := range lists {
			out[k] = append(out[k], vs...)
		}
	}
	for k := range out {
		if !slices.Contains(allowed, k) {
			return nil, badParam("invalid filter '%s'", k)
		}
	}
	return out, nil
}

// any says whether key is not given, or one of its values passes ok.
func (f opsFilters) any(key string, ok func(string) bool) bool {
	vs, set := f[key]
	return !set || slices.ContainsFunc(vs, ok)
}

// askedVersion is the API version the request's path named, or
// APIVersion.
func askedVersion(r *http.Request) string {
	if v, ok := r.Context().Value(versionKey{}).(string); ok {
		return v
	}
	return APIVersion
}
