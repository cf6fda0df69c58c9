package dockerapi

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/volume"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/internal/volumes"
)

// TestVolumes: create (labels, size, idempotent, a random name, refused
// drivers and options), list with Docker's filters, inspect, remove
// (force ignores a missing one), prune (every unused volume before API
// 1.42, only anonymous ones after unless all=true; in use never).
func TestVolumes(t *testing.T) {
	e := newOpsEnv(t)
	s := e.s
	create := func(body string) (volume.Volume, int, string) {
		rec := do(s, "POST", "/v1.41/volumes/create", body)
		var v volume.Volume
		_ = json.Unmarshal(rec.Body.Bytes(), &v)
		return v, rec.Code, rec.Body.String()
	}
	v, code, body := create(`{"Name":"data","Labels":{"com.docker.compose.project":"p1"},"DriverOpts":{"size":"64M"}}`)
	if code != 201 || v.Name != "data" || v.Driver != "local" || v.Labels["com.docker.compose.project"] != "p1" || v.Status["SizeBytes"] != float64(64*units.MiB) {
		t.Fatalf("create: %d %s", code, body)
	}
	if v2, code, _ := create(`{"Name":"data"}`); code != 201 || v2.Labels["com.docker.compose.project"] != "p1" {
		t.Errorf("a second create of data: %d %+v, want the existing volume", code, v2)
	}
	if v, code, _ := create(`{}`); code != 201 || len(v.Name) != 64 {
		t.Errorf("create without a name: %d %q, want a random 64-digit name", code, v.Name)
	}
	for body, msg := range map[string]string{
		`{"Name":"x","Driver":"nfs"}`:                "--driver nfs (Driver) is not supported by banger",
		`{"Name":"x","DriverOpts":{"type":"tmpfs"}}`: "--opt type (DriverOpts) is not supported by banger",
		`{"Name":"x","DriverOpts":{"size":"lots"}}`:  "--opt size=lots",
		`{"Name":"../x"}`:                            "volume name",
		`not json`:                                   "not a volume config",
	} {
		if _, code, got := create(body); code != 400 || !strings.Contains(got, msg) {
			t.Errorf("create %s: %d %s, want 400 %q", body, code, got, msg)
		}
	}
	_, _, _ = create(`{"Name":"anon1","Labels":{"com.docker.volume.anonymous":""}}`)
	_, _, _ = create(`{"Name":"used"}`)
	in := e.catalog.infos["used"]
	in.UsedBy = []volumes.User{{ID: "abc000000001", Name: "web"}}
	e.catalog.infos["used"] = in

	list := func(filters string) []string {
		rec := do(s, "GET", "/volumes?filters="+url.QueryEscape(filters), "")
		var resp volume.ListResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
			t.Fatalf("list %s: %d %s", filters, rec.Code, rec.Body)
		}
		var names []string
		for _, v := range resp.Volumes {
			if len(v.Name) < 64 {
				names = append(names, v.Name)
			}
		}
		slices.Sort(names)
		return names
	}
	for filters, want := range map[string]string{
		``:                     "anon1 data used",
		`{"name":{"at":true}}`: "data",
		`{"label":["com.docker.compose.project=p1"]}`:   "data",
		`{"label":{"com.docker.compose.project":true}}`: "data",
		`{"dangling":["false"]}`:                        "used",
		`{"dangling":["true"],"name":["a"]}`:            "anon1 data",
		`{"driver":["nfs"]}`:                            "",
	} {
		if got := strings.Join(list(filters), " "); got != want {
			t.Errorf("list %s: %q, want %q", filters, got, want)
		}
	}
	for _, bad := range []string{`{"colour":["red"]}`, `{"dangling":["maybe"]}`, `nope`} {
		if rec := do(s, "GET", "/volumes?filters="+url.QueryEscape(bad), ""); rec.Code != 400 {
			t.Errorf("list with filters %s: %d, want 400", bad, rec.Code)
		}
	}
	if rec := do(s, "GET", "/volumes/nope", ""); rec.Code != 404 || message(t, rec) != "get nope: no such volume" {
		t.Errorf("inspect of a missing volume: %d %s", rec.Code, rec.Body)
	}
	if rec := do(s, "DELETE", "/volumes/nope", ""); rec.Code != 404 {
		t.Errorf("rm of a missing volume: %d", rec.Code)
	}
	if rec := do(s, "DELETE", "/volumes/nope?force=1", ""); rec.Code != 204 {
		t.Errorf("rm -f of a missing volume: %d %s, want 204", rec.Code, rec.Body)
	}
	if rec := do(s, "DELETE", "/volumes/used", ""); rec.Code != 409 {
		t.Errorf("rm of a volume in use: %d %s, want 409", rec.Code, rec.Body)
	}

	prune := func(path string) []string {
		rec := do(s, "POST", path, "")
		var rep volume.PruneReport
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rec.Code != 200 {
			t.Fatalf("prune %s: %d %s", path, rec.Code, rec.Body)
		}
		var out []string
		for _, n := range rep.VolumesDeleted {
			if len(n) < 64 {
				out = append(out, n)
			}
		}
		slices.Sort(out)
		return out
	}
	if got := prune("/v1.43/volumes/prune"); !slices.Equal(got, []string{"anon1"}) {
		t.Errorf("prune at 1.43: %v, want only the anonymous volume", got)
	}
	if got := prune("/v1.43/volumes/prune?filters=" + url.QueryEscape(`{"all":["true"],"label!":["keep"]}`)); !slices.Equal(got, []string{"data"}) {
		t.Errorf("prune all=true at 1.43: %v, want data (used stays)", got)
	}
	_, _, _ = create(`{"Name":"old"}`)
	if got := prune("/v1.41/volumes/prune"); !slices.Equal(got, []string{"old"}) {
		t.Errorf("prune at 1.41: %v, want every unused volume", got)
	}
	if got := list(""); !slices.Equal(got, []string{"used"}) {
		t.Errorf("after the prunes: %v, want the volume in use only", got)
	}
}

// TestPruneKeeps: a prune takes an object only when every label filter
// holds and no label! does.
func TestPruneKeeps(t *testing.T) {
	set := map[string]string{"app": "web", "keep": ""}
	for _, tc := range []struct {
		filters string
		keeps   bool
	}{
		{`{}`, false},
		{`{"label":["app"]}`, false},
		{`{"label":["app=web"]}`, false},
		{`{"label":["app=db"]}`, true},
		{`{"label":["app","tier"]}`, true},
		{`{"label!":["keep"]}`, true},
		{`{"label!":["app=db"]}`, false},
		{`{"label!":["tier","app=web"]}`, true},
		{`{"label":["app"],"label!":["tier"]}`, false},
	} {
		f, err := parseFiltersOf(tc.filters, []string{"label", "label!"})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.pruneKeeps(set); got != tc.keeps {
			t.Errorf("%s: pruneKeeps = %v, want %v", tc.filters, got, tc.keeps)
		}
	}
}
