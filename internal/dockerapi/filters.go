package dockerapi

import (
	"encoding/json"
	"net/http"
	"slices"
)

// filters are a request's ?filters=: each key's values. Both encodings
// are read: {"key":["v"]} and the older {"key":{"v":true}} that API 1.41
// clients still send.
type filters map[string][]string

// parseFilters reads r's filters, refusing a key not in known with
// Docker's words.
func parseFilters(r *http.Request, known ...string) (filters, error) {
	raw := r.URL.Query().Get("filters")
	out := filters{}
	if raw == "" {
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, badParam("invalid filter: %v", err)
	}
	for k, v := range m {
		if !slices.Contains(known, k) {
			return nil, badParam("invalid filter '%s'", k)
		}
		var list []string
		if json.Unmarshal(v, &list) != nil {
			var set map[string]bool
			if err := json.Unmarshal(v, &set); err != nil {
				return nil, badParam("invalid filter '%s': %v", k, err)
			}
			for val, on := range set {
				if on {
					list = append(list, val)
				}
			}
			slices.Sort(list)
		}
		out[k] = list
	}
	return out, nil
}
