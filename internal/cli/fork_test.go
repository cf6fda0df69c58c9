package cli

import (
	"slices"
	"testing"
)

// One fork is named as asked (or by the daemon); several are NAME-1..N,
// as docker compose names replicas.
func TestForkNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		count int
		want  []string
	}{
		{"dev2", 1, []string{"dev2"}},
		{"", 1, []string{""}},
		{"w", 3, []string{"w-1", "w-2", "w-3"}},
		{"", 2, []string{"fork-1", "fork-2"}},
	} {
		if got := forkNames(tc.name, tc.count); !slices.Equal(got, tc.want) {
			t.Errorf("forkNames(%q, %d) = %q, want %q", tc.name, tc.count, got, tc.want)
		}
	}
}
