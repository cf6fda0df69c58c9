package dockerapi

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/labels"
	"github.com/bangerdev/banger/internal/vms"
)

// filters is Docker's filters query: each key with its accepted values.
type filters map[string][]string

// parseFilters reads the filters query: {"key":{"value":true}}, or the
// older {"key":["value"]}.
func parseFilters(raw string) (filters, error) {
	out := filters{}
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
		return out, nil
	}
	var lists map[string][]string
	if err := json.Unmarshal([]byte(raw), &lists); err != nil {
		return nil, badParam("invalid filters %q: %v", raw, err)
	}
	for k, vs := range lists {
		out[k] = append(out[k], vs...)
	}
	return out, nil
}

// The container filters served.
var containerFilters = []string{"id", "name", "label", "status", "ancestor"}

// validStatus are the statuses a status filter may name (Docker's).
var validStatus = []string{"created", "restarting", "running", "removing", "paused", "exited", "dead"}

// check refuses a filter key the list does not serve, and values it
// cannot mean, as Docker does.
func (f filters) check(keys []string) error {
	for k, vs := range f {
		if !slices.Contains(keys, k) {
			return badParam("invalid filter '%s'", k)
		}
		for _, v := range vs {
			if k == "status" && !slices.Contains(validStatus, v) {
				return badParam("invalid filter 'status=%s'", v)
			}
			if k == "name" {
				if _, err := regexp.Compile(v); err != nil {
					return badParam("invalid filter 'name=%s': %v", v, err)
				}
			}
		}
	}
	return nil
}

// imageOf says whether the VM runs the image ref names (an ancestor
// filter's value); the list handler resolves it through the catalog.
type imageOf func(vm vms.VM, ref string) bool

// match says whether vm passes every filter: each key's values are
// alternatives (any may match); keys must all match. label values all
// must match, as Docker's do.
func (f filters) match(vm vms.VM, ancestor imageOf) bool {
	id := containerID(vm.ID)
	oneOf := func(key string, ok func(v string) bool) bool {
		vs, set := f[key]
		return !set || slices.ContainsFunc(vs, ok)
	}
	return oneOf("id", func(v string) bool { return strings.HasPrefix(id, v) }) &&
		oneOf("name", func(v string) bool {
			re, err := regexp.Compile(v)
			return err == nil && (re.MatchString(vm.Name) || re.MatchString("/"+vm.Name))
		}) &&
		oneOf("status", func(v string) bool { return string(containerState(vm.State)) == v }) &&
		oneOf("ancestor", func(v string) bool { return ancestor(vm, v) }) &&
		labels.Match(vm.Spec.Labels, f["label"])
}
