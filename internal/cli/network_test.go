package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/api"
)

func TestNetworkFilter(t *testing.T) {
	def := api.Network{ID: "bridge", Name: "bridge", Default: true}
	app := api.Network{ID: "0123abcd", Name: "app-front", Labels: map[string]string{"team": "web"}}
	db := api.Network{ID: "4567ef00", Name: "db", Labels: map[string]string{"team": "data"}}
	all := []api.Network{def, app, db}
	for _, tc := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"bridge", "app-front", "db"}},
		{[]string{"type=custom"}, []string{"app-front", "db"}},
		{[]string{"type=builtin"}, []string{"bridge"}},
		{[]string{"name=front"}, []string{"app-front"}},
		{[]string{"id=4567"}, []string{"db"}},
		{[]string{"label=team"}, []string{"app-front", "db"}},
		{[]string{"label=team=data", "type=custom"}, []string{"db"}},
		{[]string{"name=app", "name=db"}, []string{"app-front", "db"}},
	} {
		f, err := parseFilters(tc.filters, networkFilterKeys)
		if err != nil {
			t.Fatal(err)
		}
		match, _ := networkFilter(f)
		var got []string
		for _, n := range all {
			if match(n) {
				got = append(got, n.Name)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%v: %v, want %v", tc.filters, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%v: %v, want %v", tc.filters, got, tc.want)
			}
		}
	}
	if _, err := parseFilters([]string{"driver=bridge"}, networkFilterKeys); err == nil {
		t.Error("an unknown filter key was accepted")
	}
}

// inspect prints a network's labels sorted (as a VM's and an image's),
// not in a map's order.
func TestPrintNetworkLabelsSorted(t *testing.T) {
	n := api.Network{Name: "app", Labels: map[string]string{"zone": "b", "app": "web", "team": "db"}}
	for range 5 {
		var out bytes.Buffer
		if err := printNetwork(&App{Stdout: &out}, n); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "app=web,team=db,zone=b") {
			t.Fatalf("labels not sorted:\n%s", out.String())
		}
	}
}
