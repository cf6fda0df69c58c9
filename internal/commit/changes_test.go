package commit

import (
	"errors"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestParseChange(t *testing.T) {
	tests := []struct {
		in    string
		want  Change
		error string
	}{
		{in: `CMD ["nginx", "-g", "daemon off;"]`, want: Change{"CMD", []string{"nginx", "-g", "daemon off;"}}},
		{in: `cmd echo "hi there"`, want: Change{"CMD", []string{"/bin/sh", "-c", `echo "hi there"`}}},
		{in: `CMD []`, want: Change{"CMD", []string{}}},
		{in: "ENTRYPOINT\t[\"/init\"]", want: Change{"ENTRYPOINT", []string{"/init"}}},
		{in: `ENV A=1 B="two words" C='$lit' D=a\ b`, want: Change{"ENV", []string{"A=1", "B=two words", "C=$lit", "D=a b"}}},
		{in: `ENV PATH /usr/local/bin:/bin  with spaces`, want: Change{"ENV", []string{"PATH=/usr/local/bin:/bin  with spaces"}}},
		{in: `LABEL org.opencontainers.image.title="my app" x=`, want: Change{"LABEL", []string{"org.opencontainers.image.title=my app", "x="}}},
		{in: `EXPOSE 80 53/UDP 9000/sctp`, want: Change{"EXPOSE", []string{"80/tcp", "53/udp", "9000/sctp"}}},
		{in: `WORKDIR /srv/app`, want: Change{"WORKDIR", []string{"/srv/app"}}},
		{in: `USER 1000:1000`, want: Change{"USER", []string{"1000:1000"}}},
		{in: `RUN make`, error: `"RUN" is not an instruction --change takes`},
		{in: ``, error: "is not an instruction"},
		{in: `CMD ["unterminated"`, error: "JSON array of strings"},
		{in: `CMD [1, 2]`, error: "JSON array of strings"},
		{in: `CMD`, error: "needs a command"},
		{in: `ENV`, error: "needs KEY=VALUE"},
		{in: `ENV A`, error: "takes KEY=VALUE pairs"},
		{in: `ENV =x`, error: `"=x" is not KEY=VALUE`},
		{in: `LABEL k v`, error: "takes KEY=VALUE pairs"},
		{in: `ENV A="open`, error: "unterminated"},
		{in: `ENV A='open`, error: "unterminated"},
		{in: `ENV A=x\`, error: "trailing backslash"},
		{in: `EXPOSE 0`, error: "is not a port"},
		{in: `EXPOSE 70000`, error: "is not a port"},
		{in: `EXPOSE 80/icmp`, error: "not tcp, udp or sctp"},
		{in: `EXPOSE`, error: "needs a port"},
		{in: `WORKDIR`, error: "takes one argument"},
		{in: `USER a b`, error: "takes one argument"},
	}
	for _, tc := range tests {
		got, err := ParseChange(tc.in)
		if tc.error != "" {
			if err == nil || !strings.Contains(err.Error(), tc.error) || !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("%q: error %v, want one saying %q", tc.in, err, tc.error)
			}
			continue
		}
		if err != nil || got.Instruction != tc.want.Instruction || !slices.Equal(got.Args, tc.want.Args) {
			t.Errorf("%q = %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestApply(t *testing.T) {
	cfg := v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin", "A=1"}, WorkingDir: "/app"}
	var changes []Change
	for _, s := range []string{"ENV A=2", "WORKDIR sub", "LABEL a=b", "EXPOSE 80", "ENTRYPOINT [\"/init\"]", "USER nobody"} {
		c, err := ParseChange(s)
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, c)
	}
	Apply(&cfg, changes)
	if !slices.Equal(cfg.Env, []string{"PATH=/bin", "A=2"}) || cfg.WorkingDir != "/app/sub" || cfg.Labels["a"] != "b" ||
		!slices.Equal(cfg.Entrypoint, []string{"/init"}) || cfg.Cmd != nil || cfg.User != "nobody" {
		t.Errorf("config %+v", cfg)
	}
	if _, ok := cfg.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ports %v", cfg.ExposedPorts)
	}
	c, _ := ParseChange("WORKDIR /abs/../x")
	Apply(&cfg, []Change{c})
	if cfg.WorkingDir != "/x" {
		t.Errorf("an absolute WORKDIR gives %q", cfg.WorkingDir)
	}
}

// As docker's: ENV replaces a key in its place (new keys go at the end),
// and an ENTRYPOINT keeps a CMD set by a change before it, clearing only
// the image's.
func TestApplyKeepsEnvOrderAndAnEarlierCmd(t *testing.T) {
	cfg := v1.Config{Cmd: []string{"sh"}, Env: []string{"A=1", "PATH=/bin"}}
	var changes []Change
	for _, s := range []string{"ENV A=2 B=3", `CMD ["-v"]`, `ENTRYPOINT ["/init"]`} {
		c, err := ParseChange(s)
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, c)
	}
	Apply(&cfg, changes)
	if !slices.Equal(cfg.Env, []string{"A=2", "PATH=/bin", "B=3"}) {
		t.Errorf("env %q, want A replaced in place and B appended", cfg.Env)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"/init"}) || !slices.Equal(cfg.Cmd, []string{"-v"}) {
		t.Errorf("entrypoint %q cmd %q, want the CMD set before the ENTRYPOINT kept", cfg.Entrypoint, cfg.Cmd)
	}
}

// FuzzParseChange: any input either fails as ErrInvalid or gives a change
// Apply takes without panicking, whose ENV and LABEL pairs have keys.
func FuzzParseChange(f *testing.F) {
	for _, s := range []string{`CMD ["a"]`, `ENV A="b c" D='e'`, `LABEL x=y`, `EXPOSE 80/udp`, `WORKDIR ..`, `USER u`, `ENV A b`, "ENV A=\\\"", `CMD echo`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseChange(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("%q: %v is not ErrInvalid", s, err)
			}
			return
		}
		if !slices.Contains(Changes, c.Instruction) {
			t.Fatalf("%q parsed as %q", s, c.Instruction)
		}
		var cfg v1.Config
		Apply(&cfg, []Change{c})
		for _, kv := range append(slices.Clone(cfg.Env), func() []string {
			var out []string
			for k := range cfg.Labels {
				out = append(out, k+"=")
			}
			return out
		}()...) {
			if strings.HasPrefix(kv, "=") {
				t.Fatalf("%q: an empty key in %q", s, kv)
			}
		}
		if c.Instruction == "WORKDIR" && !strings.HasPrefix(cfg.WorkingDir, "/") {
			t.Fatalf("%q: WORKDIR %q is not absolute", s, cfg.WorkingDir)
		}
	})
}
