package imagebuild

import (
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/imagepull"
)

func TestIsCache(t *testing.T) {
	// A cache name is its own canonical name: the catalog keeps it as is.
	name := CacheName(chain("scratch", "linux/amd64"))
	canon, err := imagepull.NormalizeName(name)
	if err != nil || canon != name {
		t.Fatalf("NormalizeName(%s) = %s, %v; want it unchanged", name, canon, err)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{name, true},
		{CacheRepository + ":" + strings.Repeat("a", 64), true},
		{"docker.io/library/busybox:latest", false},
		{"localhost:5000/banger.build/cache:v1", false},
		{"banger.build/cached:v1", false},
	} {
		if got := IsCache(tc.name); got != tc.want {
			t.Errorf("IsCache(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
