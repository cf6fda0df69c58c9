package hostsetup

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/paths"
)

func TestPlan(t *testing.T) {
	layout := paths.Rooted("/srv/bg")
	allDirs := map[string]bool{}
	for d := range layout.Dirs() {
		allDirs[d] = true
	}
	in := Inputs{SocketGroup: "banger", VMMUser: "banger-vmm", Layout: layout}
	useradd := []string{"useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "banger-vmm"}
	tests := []struct {
		name string
		in   Inputs
		host Host
		argv [][]string
		dirs int
	}{
		{
			name: "fresh host with a kvm group",
			in:   in, host: Host{Groups: map[string]bool{"kvm": true}},
			argv: [][]string{{"groupadd", "--system", "banger"}, useradd, {"usermod", "--append", "--groups", "kvm", "banger-vmm"}},
			dirs: len(allDirs),
		},
		{
			name: "fresh host without kvm",
			in:   in, host: Host{},
			argv: [][]string{{"groupadd", "--system", "banger"}, useradd},
			dirs: len(allDirs),
		},
		{
			name: "everything there: nothing to do",
			in:   in, host: Host{Groups: map[string]bool{"banger": true, "kvm": true}, Users: map[string][]string{"banger-vmm": {"banger-vmm", "kvm"}}, Dirs: allDirs},
		},
		{
			name: "user exists but not in kvm",
			in:   in, host: Host{Groups: map[string]bool{"banger": true, "kvm": true}, Users: map[string][]string{"banger-vmm": {"banger-vmm"}}, Dirs: allDirs},
			argv: [][]string{{"usermod", "--append", "--groups", "kvm", "banger-vmm"}},
		},
		{
			name: "no group, no user configured",
			in:   Inputs{Layout: layout}, host: Host{Dirs: allDirs},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := Plan(tt.in, tt.host)
			var argv [][]string
			dirs := 0
			for _, s := range steps {
				if s.Argv != nil {
					argv = append(argv, s.Argv)
				} else {
					dirs++
					if tt.in.Layout.Dirs()[s.Dir] != s.Mode {
						t.Errorf("dir %s mode %o", s.Dir, s.Mode)
					}
				}
				if s.Desc == "" {
					t.Errorf("step %+v has no description", s)
				}
			}
			if !reflect.DeepEqual(argv, tt.argv) {
				t.Errorf("commands:\n got %q\nwant %q", argv, tt.argv)
			}
			if dirs != tt.dirs {
				t.Errorf("%d directories; want %d", dirs, tt.dirs)
			}
		})
	}
}

func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	var ran [][]string
	run := func(_ context.Context, argv []string) error {
		ran = append(ran, argv)
		if argv[0] == "fail" {
			return errors.New("boom")
		}
		return nil
	}
	steps := []Step{{Desc: "one", Argv: []string{"true"}}, {Desc: "dir", Dir: dir, Mode: 0o711}, {Desc: "two", Argv: []string{"fail"}}, {Desc: "never", Argv: []string{"x"}}}
	err := Run(t.Context(), steps, run)
	if err == nil || !strings.Contains(err.Error(), "two") {
		t.Fatalf("err = %v; want the failing step named", err)
	}
	if !slices.EqualFunc(ran, [][]string{{"true"}, {"fail"}}, slices.Equal) {
		t.Errorf("ran %q", ran)
	}
	if h := Observe(Inputs{Layout: paths.Layout{State: dir}}); !h.Dirs[dir] {
		t.Errorf("Observe does not see %s: %+v", dir, h)
	}
}
