package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestRouteTable: every entry is a valid ServeMux pattern under /v1, no two
// collide, and each is consistent with its kind and types.
func TestRouteTable(t *testing.T) {
	table := Routes()
	if len(table) < 20 {
		t.Fatalf("the table has %d routes; a declaration is missing def", len(table))
	}
	mux := http.NewServeMux()
	seen := map[string]bool{}
	for _, r := range table {
		if seen[r.MuxPattern()] {
			t.Errorf("%s is declared twice", r)
		}
		seen[r.MuxPattern()] = true
		if err := r.check(); err != nil {
			t.Error(err)
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s is not a ServeMux pattern, or conflicts with another: %v", r, p)
				}
			}()
			mux.HandleFunc(r.MuxPattern(), func(http.ResponseWriter, *http.Request) {})
		}()
	}
}

// TestRoutePaths: Path fills every wildcard, refuses too few or too many
// values, and escapes each value so the server's mux matches this route and
// hands the handler the value unchanged.
func TestRoutePaths(t *testing.T) {
	values := []string{
		"dev",
		"ghcr.io/me/tool:1.2",
		"debian@sha256:" + strings.Repeat("ab", 32),
		"127.0.0.1:5000/a/b",
		".", "..", "a b?c#d%e&f=g+h",
	}
	for _, r := range Routes() {
		names := r.Params()
		if got := strings.Count(r.Pattern, "{"); got != len(names) {
			t.Errorf("%s: Params() = %v, but the pattern has %d wildcards", r, names, got)
		}
		for _, v := range values {
			params := slices.Repeat([]string{v}, len(names))
			path, err := r.Path(params...)
			if err != nil {
				t.Errorf("%s.Path(%q): %v", r, params, err)
				continue
			}
			if strings.ContainsAny(path, "{}?#") || !strings.HasPrefix(path, Version+"/") {
				t.Errorf("%s.Path(%q) = %q", r, params, path)
				continue
			}
			got := serveOnce(t, r, path)
			if want := fmt.Sprint(params); got != want {
				t.Errorf("%s: %q reached the handler as %s, want %s", r, path, got, want)
			}
		}
		if len(names) > 0 {
			if _, err := r.Path(); err == nil {
				t.Errorf("%s.Path() without values succeeded", r)
			}
			if _, err := r.Path(slices.Repeat([]string{""}, len(names))...); err == nil {
				t.Errorf("%s.Path with empty values succeeded", r)
			}
		}
		if _, err := r.Path(slices.Repeat([]string{"x"}, len(names)+1)...); err == nil {
			t.Errorf("%s.Path with a value too many succeeded", r)
		}
	}
}

// serveOnce sends path to a mux that serves only r and returns the path
// values its handler saw, or what answered instead.
func serveOnce(t *testing.T, r Route, path string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc(r.MuxPattern(), func(w http.ResponseWriter, req *http.Request) {
		var got []string
		for _, name := range r.Params() {
			got = append(got, req.PathValue(name))
		}
		_, _ = fmt.Fprint(w, got)
	})
	req, err := http.NewRequest(r.Method, "http://banger"+path, nil) //nolint:noctx // served in process
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Sprintf("status %d", rec.Code)
	}
	return rec.Body.String()
}
