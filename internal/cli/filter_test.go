package cli

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestVMFilter(t *testing.T) {
	vms := append(testVMs(),
		api.VM{ID: "c0ffee00", Name: "web2", State: api.VMCreated, ImageID: "feedbeef00112233", Spec: api.VMSpec{Image: "docker.io/library/busybox:latest"}})
	tests := []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"web", "database", "web2"}},
		{[]string{"name=web"}, []string{"web", "web2"}},
		{[]string{"name=^web$"}, []string{"web"}},
		{[]string{"name=base"}, []string{"database"}},
		{[]string{"state=running"}, []string{"web"}},
		{[]string{"status=exited"}, []string{"database"}},
		// The same key ORs, different keys AND.
		{[]string{"state=running", "state=exited"}, []string{"web", "database"}},
		{[]string{"label=team"}, []string{"web", "database"}},
		{[]string{"label=team=db"}, []string{"database"}},
		// Labels AND, as docker's and the daemon's label filter.
		{[]string{"label=team=web", "label=tier=back"}, nil},
		{[]string{"label=team=db", "label=tier"}, []string{"database"}},
		{[]string{"label=team", "label=tier=back"}, []string{"database"}},
		{[]string{"label=team=web", "state=exited"}, nil},
		{[]string{"label=team=db", "name=data"}, []string{"database"}},
		{[]string{"image=busybox"}, []string{"web", "web2"}},
		{[]string{"ancestor=debian:bookworm"}, []string{"database"}},
		{[]string{"image=feedbeef"}, []string{"web2"}},
		{[]string{"id=e5f6"}, []string{"database"}},
		{[]string{"id="}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.filters, ","), func(t *testing.T) {
			f, err := parseFilters(tt.filters, vmFilterKeys)
			if err != nil {
				t.Fatal(err)
			}
			match, err := vmFilter(f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, vm := range keep(vms, match) {
				got = append(got, vm.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("kept %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	for _, bad := range [][]string{{"colour=red"}, {"name"}, {"=x"}} {
		if _, err := parseFilters(bad, vmFilterKeys); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "id, image, label, name, state") {
			t.Errorf("parseFilters(%q) = %v; want an error listing the keys", bad, err)
		}
	}
	f, _ := parseFilters([]string{"name=(unclosed"}, vmFilterKeys)
	if _, err := vmFilter(f); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a bad name regexp: %v", err)
	}
	f, _ = parseFilters([]string{"name=[x"}, imageFilterKeys)
	if _, err := imageFilter(f); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a bad name glob: %v", err)
	}
}

func TestImageFilter(t *testing.T) {
	imgs := []api.Image{
		{Name: "docker.io/library/debian:bookworm", Source: "pull", Config: api.ImageConfig{Labels: map[string]string{"org.opencontainers.image.vendor": "Debian"}}},
		{Name: "docker.io/library/busybox:latest", Source: "import"},
		{Name: "127.0.0.1:5000/team/tool:1.2", Source: "pull"},
	}
	tests := []struct {
		filters []string
		want    []string
	}{
		{[]string{"name=debian*"}, []string{"debian:bookworm"}},
		{[]string{"reference=busybox"}, []string{"busybox:latest"}},
		{[]string{"name=busybox:latest"}, []string{"busybox:latest"}},
		{[]string{"name=127.0.0.1:5000/team/*"}, []string{"127.0.0.1:5000/team/tool:1.2"}},
		{[]string{"name=*/team/tool:1.2", "name=debian:*"}, []string{"debian:bookworm", "127.0.0.1:5000/team/tool:1.2"}},
		{[]string{"source=pull"}, []string{"debian:bookworm", "127.0.0.1:5000/team/tool:1.2"}},
		{[]string{"source=pull", "label=org.opencontainers.image.vendor=Debian"}, []string{"debian:bookworm"}},
		{[]string{"label=nothing"}, nil},
	}
	for _, tt := range tests {
		f, err := parseFilters(tt.filters, imageFilterKeys)
		if err != nil {
			t.Fatal(err)
		}
		match, err := imageFilter(f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, img := range keep(imgs, match) {
			got = append(got, strings.TrimPrefix(strings.TrimPrefix(img.Name, "docker.io/library/"), "docker.io/"))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q kept %q, want %q", tt.filters, got, tt.want)
		}
	}
}
