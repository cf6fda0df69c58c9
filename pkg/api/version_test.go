package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestVersionServes: a daemon serves the clients from its minimum API
// version to its own, compared as numbers (1.10 is newer than 1.9), and a
// version that is not MAJOR.MINOR is an invalid argument.
func TestVersionServes(t *testing.T) {
	d := VersionInfo{APIVersion: "1.10", MinAPIVersion: "1.2"}
	tests := []struct {
		client string
		want   bool
	}{
		{"1.2", true}, {"1.9", true}, {"1.10", true},
		{"1.1", false}, {"1.11", false}, {"2.0", false}, {"0.9", false},
	}
	for _, tt := range tests {
		got, err := d.Serves(tt.client)
		if err != nil || got != tt.want {
			t.Errorf("Serves(%q) = %v, %v; want %v", tt.client, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "1", "1.x", "v1.0", "1.0.0", "1.-1", "01.0"} {
		if _, err := d.Serves(bad); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("Serves(%q): %v, want an invalid argument", bad, err)
		}
	}
	if ok, err := (VersionInfo{APIVersion: APIVersion, MinAPIVersion: MinAPIVersion}).Serves(APIVersion); !ok || err != nil {
		t.Errorf("this package's versions do not fit each other: %v, %v", ok, err)
	}
}

// TestRouterSetsAPIVersion: every answer of a Router carries the API
// version header, a 404 of a path no route knows included.
func TestRouterSetsAPIVersion(t *testing.T) {
	rt := NewRouter(nil)
	Handle(rt, GetVersion, func(*http.Request, None) (VersionInfo, error) {
		return VersionInfo{APIVersion: APIVersion}, nil
	})
	for _, path := range []string{"/v1/version", "/v1/nothing-here"} {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if got := w.Header().Get(HeaderAPIVersion); got != APIVersion {
			t.Errorf("GET %s (%d): %s = %q, want %q", path, w.Code, HeaderAPIVersion, got, APIVersion)
		}
	}
}

// FuzzCompareAPIVersions: any two strings (a daemon's answer) compare
// without panicking, as an order: a version equals itself, and swapping
// the two flips the sign.
func FuzzCompareAPIVersions(f *testing.F) {
	for _, s := range [][2]string{{"1.0", "1.0"}, {"1.10", "1.9"}, {"2.0", "x"}, {"", "1."}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, errA := CompareAPIVersions(a, b)
		ba, errB := CompareAPIVersions(b, a)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("(%q, %q): errors %v and %v", a, b, errA, errB)
		}
		if errA == nil && ab != -ba {
			t.Fatalf("(%q, %q) = %d but (%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if self, err := CompareAPIVersions(a, a); err == nil && self != 0 {
			t.Fatalf("%q compared to itself: %d", a, self)
		}
	})
}
