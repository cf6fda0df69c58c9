package imagepull

import (
	"archive/tar"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestImageSize(t *testing.T) {
	tests := []struct {
		compact   int64
		headroom  int
		requested int64
		want      int64
		err       string
	}{
		{compact: 3 * units.MiB, headroom: 20, want: MinSize},
		{compact: 400 * units.MiB, headroom: 20, want: 400*units.MiB + 80*units.MiB + 16*units.MiB},
		{compact: 400 * units.MiB, headroom: 0, want: 416 * units.MiB},
		{compact: 3 * units.MiB, requested: 100 * units.MiB, want: 100 * units.MiB},
		{compact: 3 * units.MiB, requested: 100*units.MiB + 1, want: 100*units.MiB + 4096},
		{compact: 3 * units.MiB, requested: 32 * units.MiB, err: "at least 64MiB"},
		{compact: 400 * units.MiB, requested: 410 * units.MiB, err: "too small: the content needs 416MiB"},
	}
	for _, tt := range tests {
		got, err := imageSize(tt.compact, tt.headroom, tt.requested)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, errdefs.ErrInvalid)):
			t.Errorf("imageSize(%d, %d, %d) error = %v, want %q", tt.compact, tt.headroom, tt.requested, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("imageSize(%d, %d, %d) = %d, %v; want %d", tt.compact, tt.headroom, tt.requested, got, err, tt.want)
		}
	}
}

func TestReserveInodes(t *testing.T) {
	tests := []struct {
		used, blocks int64
		headroom     int
		want         int64
	}{
		{used: 400, blocks: 500, headroom: 20, want: inodesPerGroup - 401},          // tiny: one group's worth
		{used: 20000, blocks: 110000, headroom: 20, want: 4*inodesPerGroup - 20001}, // a Debian: four groups
		{used: 50000, blocks: 40000, headroom: 20, want: 60000 - 50001},             // dense: headroom wins
		{used: 2 * inodesPerGroup, blocks: 100, headroom: 0, want: 0},               // nothing to add
	}
	for _, tt := range tests {
		if got := reserveInodes(tt.used, tt.blocks, tt.headroom); got != tt.want {
			t.Errorf("reserveInodes(%d, %d, %d) = %d, want %d", tt.used, tt.blocks, tt.headroom, got, tt.want)
		}
	}
}

func TestFinishPlanIsConstantButForPathAndSize(t *testing.T) {
	plan := finishPlan("/img/rootfs.ext4", 128*units.MiB)
	var argv [][]string
	for _, s := range plan {
		argv = append(argv, s.argv)
	}
	want := [][]string{
		{"debugfs", "-w", "-f", "-", "/img/rootfs.ext4"},
		{"e2fsck", "-f", "-y", "/img/rootfs.ext4"},
		{"resize2fs", "/img/rootfs.ext4", "131072K"},
		{"tune2fs", "-O", "has_journal", "/img/rootfs.ext4"},
	}
	if !reflect.DeepEqual(argv, want) {
		t.Fatalf("plan argv = %q\nwant %q", argv, want)
	}
	if plan[0].stdin != "feature -read-only dir_index\nssv uuid random\nclri /.banger/.inode-reserve\nunlink /.banger/.inode-reserve\n" {
		t.Fatalf("debugfs batch = %q", plan[0].stdin)
	}
	if !reflect.DeepEqual(plan[1].okCodes, []int{1}) {
		t.Fatalf("e2fsck must accept exit 1 (corrected), got %v", plan[1].okCodes)
	}
}

func TestDebugfsErrorsAreNotSilent(t *testing.T) {
	if got := debugfsErrors("debugfs 1.47.0 (5-Feb-2023)\n"); got != "" {
		t.Errorf("banner only: %q", got)
	}
	if got := debugfsErrors("debugfs 1.47.0 (5-Feb-2023)\nclri: File not found by ext2_lookup\n"); !strings.Contains(got, "File not found") {
		t.Errorf("error lost: %q", got)
	}
}

func TestApplyOwnership(t *testing.T) {
	tests := []struct {
		name string
		in   tar.Header
		want map[string]string // PAX records after
		mode int64
		err  string
	}{
		{name: "mode keeps setuid and drops type bits", in: tar.Header{Mode: 0o104755}, mode: 0o4755},
		{name: "uid beyond 32 bits", in: tar.Header{Uid: 1 << 32}, err: "32-bit"},
		{name: "negative gid", in: tar.Header{Gid: -1}, err: "32-bit"},
		{name: "capability kept, other records dropped",
			in:   tar.Header{PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00", "comment": "x", "SCHILY.dev": "1"}},
			want: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00"}},
		{name: "bsdtar records", in: tar.Header{PAXRecords: map[string]string{"LIBARCHIVE.xattr.user.a%20b": "aGVsbG8"}},
			want: map[string]string{"SCHILY.xattr.user.a b": "hello"}},
		{name: "SCHILY wins over LIBARCHIVE", in: tar.Header{PAXRecords: map[string]string{"LIBARCHIVE.xattr.user.x": "aGVsbG8=", "SCHILY.xattr.user.x": "kept"}},
			want: map[string]string{"SCHILY.xattr.user.x": "kept"}},
		{name: "attribute outside ext4's namespaces", in: tar.Header{PAXRecords: map[string]string{"SCHILY.xattr.bogus": "x"}}, err: "namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.in
			h.Uname, h.Gname = "root", "root"
			err := ApplyOwnership(&h)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Uname != "" || h.Format != tar.FormatPAX || (tt.mode != 0 && h.Mode != tt.mode) {
				t.Fatalf("header = %+v", h)
			}
			if len(tt.want) > 0 && !reflect.DeepEqual(h.PAXRecords, tt.want) {
				t.Fatalf("records = %q, want %q", h.PAXRecords, tt.want)
			}
		})
	}
}

func TestAllowHTTP(t *testing.T) {
	insecure := []string{"registry.lan:5000", "10.0.0.9"}
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true, "127.1.2.3": true,
		"registry.lan:5000": true, "10.0.0.9:443": true, "registry.lan": false,
		"10.0.0.8:5000": false, "192.168.1.2:5000": false, "index.docker.io": false,
	} {
		if got := allowHTTP(host, insecure); got != want {
			t.Errorf("allowHTTP(%q) = %v, want %v", host, got, want)
		}
	}
	p := &httpPolicy{next: http.DefaultTransport}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://10.1.2.3:5000/v2/", nil)
	if _, err := p.RoundTrip(req); !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "insecure_registries") {
		t.Fatalf("plain HTTP to a private address: %v", err)
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"debian:bookworm":                          "docker.io/library/debian:bookworm",
		"debian":                                   "docker.io/library/debian:latest",
		"docker.io/library/debian:bookworm":        "docker.io/library/debian:bookworm",
		"index.docker.io/library/debian":           "docker.io/library/debian:latest",
		"me/tool:1":                                "docker.io/me/tool:1",
		"127.0.0.1:5000/x/y:z":                     "127.0.0.1:5000/x/y:z",
		"debian@sha256:" + strings.Repeat("a", 64): "docker.io/library/debian@sha256:" + strings.Repeat("a", 64),
	} {
		got, err := NormalizeName(in)
		if err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeTag("x@sha256:" + strings.Repeat("a", 64)); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("an import name with a digest: %v", err)
	}
	for in, want := range map[string]string{
		"docker.io/library/debian:bookworm": "debian:bookworm", "docker.io/me/tool:1": "me/tool:1", "ghcr.io/a/b:c": "ghcr.io/a/b:c",
	} {
		if got := FamiliarName(in); got != want {
			t.Errorf("FamiliarName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"debian:bookworm": "debian", "localhost:5000/app:1": "localhost:5000/app", "localhost:5000/app": "localhost:5000/app",
		"docker.io/library/debian@sha256:" + strings.Repeat("a", 64): "docker.io/library/debian", "app": "app",
	} {
		if got := Repository(in); got != want {
			t.Errorf("Repository(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLocateAgent(t *testing.T) {
	dir := t.TempDir()
	cfgAgent, envAgent, absent := filepath.Join(dir, "cfg-agent"), filepath.Join(dir, "env-agent"), filepath.Join(dir, "absent")
	for _, p := range []string{cfgAgent, envAgent} {
		if err := os.WriteFile(p, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, configured, env string
		want                  string
		wantErr               string // substring; the error wraps ErrNotFound
	}{
		{name: "config wins over env", configured: cfgAgent, env: envAgent, want: cfgAgent},
		{name: "env when no config", env: envAgent, want: envAgent},
		{name: "configured but missing", configured: absent, env: envAgent, wantErr: "image.agent_binary"},
		{name: "env but missing", env: absent, wantErr: "$" + EnvAgent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvAgent, tc.env)
			got, err := LocateAgent(tc.configured)
			if tc.wantErr != "" {
				if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), absent) {
					t.Fatalf("LocateAgent = %q, %v; want ErrNotFound naming %s and %q", got, err, absent, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("LocateAgent = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := os.Stat(SystemAgentPath); err == nil {
		t.Skip("a system agent is installed; the fallback cannot be checked")
	}
	t.Setenv(EnvAgent, "")
	if got, err := LocateAgent(""); err != nil || got != "" {
		t.Fatalf("no agent anywhere: %q, %v", got, err)
	}
}

// TestAgentCandidates: an installed banger finds the agent make install
// put in PREFIX/lib/banger, whatever the prefix.
func TestAgentCandidates(t *testing.T) {
	for exe, want := range map[string][]string{
		"/usr/local/bin/banger": {"/usr/local/bin/banger-agent", "/usr/local/lib/banger/banger-agent", SystemAgentPath},
		"/opt/bg/bin/banger":    {"/opt/bg/bin/banger-agent", "/opt/bg/lib/banger/banger-agent", SystemAgentPath},
		"":                      {SystemAgentPath},
	} {
		if got := agentCandidates(exe); !slices.Equal(got, want) {
			t.Errorf("agentCandidates(%q) = %q, want %q", exe, got, want)
		}
	}
}

func TestInjectGuestAgents(t *testing.T) {
	tree := func(paths map[string]bool) *Tree {
		tr := &Tree{final: map[string]*fnode{}}
		for p, dir := range paths {
			tr.final[p] = &fnode{dir: dir}
		}
		return tr
	}
	mounts := []string{"dev/", "proc/", "sys/", "run/"}
	full := map[string]bool{"dev": true, "proc": true, "sys": true, "run": true}
	with := func(m map[string]bool, extra map[string]bool) map[string]bool {
		out := map[string]bool{}
		for k, v := range m {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name  string
		tree  *Tree
		agent string
		want  []string
		held  bool
		err   string
	}{
		{name: "marker only without an agent", tree: tree(full), want: []string{".banger/", ".banger/version"}},
		{name: "agent and marker", tree: tree(full), agent: "A", want: []string{".banger/", ".banger/agent", ".banger/version"}, held: true},
		{name: "a scratch image gets its mount points", tree: tree(nil), agent: "A", want: append([]string{".banger/", ".banger/agent"}, append(mounts, ".banger/version")...), held: true},
		{name: "only the missing mount point is made", tree: tree(map[string]bool{"dev": true, "sys": true, "run": true}), agent: "A", want: []string{".banger/", ".banger/agent", "proc/", ".banger/version"}, held: true},
		{name: "a mount point that is not a directory is never held", tree: tree(with(full, map[string]bool{"run": false})), agent: "A", want: []string{".banger/", ".banger/agent", ".banger/version"}},
		{name: "an image's own /.banger directory is kept", tree: tree(with(full, map[string]bool{".banger": true})), want: []string{".banger/version"}},
		{name: "a non-directory /.banger is refused", tree: tree(map[string]bool{".banger": false}), err: "not a directory"},
		{name: "an image's /.banger/version is not overwritten", tree: tree(map[string]bool{".banger": true, ".banger/version": false}), err: "already has /.banger/version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var agent Agent
			if tt.agent != "" {
				agent.Path = filepath.Join(t.TempDir(), "agent")
				if err := os.WriteFile(agent.Path, []byte(tt.agent), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			rec := newRecorder()
			inj, err := InjectGuestAgents(rec, tt.tree, agent)
			if tt.err != "" {
				if !errors.Is(err, ErrReserved) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrReserved with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range rec.order {
				if rec.nodes[p].Type == tar.TypeDir {
					p += "/"
				}
				names = append(names, p)
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Fatalf("wrote %q, want %q", names, tt.want)
			}
			if (inj.AgentSHA256 != "") != (tt.agent != "") {
				t.Fatalf("agent sha %q", inj.AgentSHA256)
			}
			if inj.HeldBoot != tt.held {
				t.Errorf("held boot %v, want %v", inj.HeldBoot, tt.held)
			}
		})
	}
}
