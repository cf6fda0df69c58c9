// Package labels matches KEY=VALUE labels against filters, as docker's
// `--filter label=...` does: a filter is KEY (the label is set, to any
// value) or KEY=VALUE, and a set of filters keeps what passes every one.
// The daemon filters listings with it and the CLI agrees with it.
package labels

import (
	"fmt"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Check says what is wrong with filters: each needs a key.
func Check(filters []string) error {
	for _, f := range filters {
		if k, _, _ := strings.Cut(f, "="); k == "" {
			return fmt.Errorf("%w: label filter %q: want KEY or KEY=VALUE", errdefs.ErrInvalid, f)
		}
	}
	return nil
}

// Match reports whether set passes every filter.
func Match(set map[string]string, filters []string) bool {
	for _, f := range filters {
		k, want, withValue := strings.Cut(f, "=")
		got, ok := set[k]
		if !ok || withValue && got != want {
			return false
		}
	}
	return true
}
