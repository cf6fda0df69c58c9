package labels

import (
	"errors"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestMatch(t *testing.T) {
	set := map[string]string{"team": "web", "pod": "p1", "empty": ""}
	for _, tc := range []struct {
		filters []string
		want    bool
	}{
		{nil, true},
		{[]string{"team"}, true},
		{[]string{"team=web"}, true},
		{[]string{"team=db"}, false},
		{[]string{"team=web", "pod=p1"}, true},
		{[]string{"team=web", "pod=p2"}, false},
		{[]string{"empty="}, true},
		{[]string{"empty=x"}, false},
		{[]string{"missing"}, false},
		{[]string{"team=web=x"}, false},
	} {
		if got := Match(set, tc.filters); got != tc.want {
			t.Errorf("Match(%q) = %v, want %v", tc.filters, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	if err := Check([]string{"a", "b=c", "d="}); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "=x"} {
		if err := Check([]string{bad}); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("Check(%q) = %v, want invalid", bad, err)
		}
	}
}
