package volumes

import (
	"errors"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestParseVolumeFlag(t *testing.T) {
	tests := []struct {
		in   string
		want Mount
		// err is a piece of the error; "" means it parses.
		err string
	}{
		{in: "/srv/data:/data", want: Mount{Type: TypeBind, Source: "/srv/data", Target: "/data"}},
		{in: "/srv/data/:/data/:ro", want: Mount{Type: TypeBind, Source: "/srv/data", Target: "/data", ReadOnly: true}},
		{in: "/srv//x/../data:/data:rw", want: Mount{Type: TypeBind, Source: "/srv/data", Target: "/data"}},
		{in: "pgdata:/var/lib/postgresql", want: Mount{Type: TypeVolume, Source: "pgdata", Target: "/var/lib/postgresql"}},
		{in: "cache.v2:/cache:ro", want: Mount{Type: TypeVolume, Source: "cache.v2", Target: "/cache", ReadOnly: true}},
		{in: "./data:/data", err: `host path "./data" is relative: give an absolute path, e.g. "$PWD/data"`},
		{in: "data/x:/data", err: "is relative"},
		{in: "~/x:/data", err: "is relative"},
		{in: "/srv:data", err: `guest path "data" is not absolute`},
		{in: "/srv:/", err: "the guest path cannot be /"},
		{in: "/srv:/..", err: "the guest path cannot be /"},
		{in: "/srv:/proc/x", err: "the guest's own /proc"},
		{in: "/srv:/dev", err: "the guest's own /dev"},
		{in: "/srv:/devices", want: Mount{Type: TypeBind, Source: "/srv", Target: "/devices"}},
		{in: "/srv", err: "no guest path"},
		{in: ":/data", err: "no host path or volume name"},
		{in: "/srv:", err: "-v /srv:: no guest path"},
		{in: "/srv:/data:z", err: `unknown option "z"`},
		{in: "/a:/b:/c:ro", err: "too many ':'"},
		{in: "-bad:/data", err: "volume name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseVolumeFlag(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, errdefs.ErrInvalid) {
					t.Fatalf("ParseVolumeFlag(%q) = %+v, %v; want an invalid-argument error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseVolumeFlag(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseMountFlag(t *testing.T) {
	tests := []struct {
		in   string
		want Mount
		err  string
	}{
		{in: "type=image,source=/srv/site,target=/var/www", want: Mount{Type: TypeImage, Source: "/srv/site", Target: "/var/www"}},
		{in: "type=image,src=/srv/site/,dst=/var/www,readonly,size=2G", want: Mount{Type: TypeImage, Source: "/srv/site", Target: "/var/www", ReadOnly: true, SizeBytes: 2 << 30}},
		{in: "type=bind,source=/srv,destination=/data,ro=true", want: Mount{Type: TypeBind, Source: "/srv", Target: "/data", ReadOnly: true}},
		{in: "type=volume,source=pg,target=/pg,readonly=false", want: Mount{Type: TypeVolume, Source: "pg", Target: "/pg"}},
		{in: "source=/srv,target=/data", err: "no type="},
		{in: "type=tmpfs,target=/data", err: `type "tmpfs": want bind, volume, image or pod`},
		{in: "type=image,source=/srv,target=/data,size=0", err: "size="},
		{in: "type=bind,source=/srv,target=/data,size=1G", err: "size= applies to type=image only"},
		{in: "type=image,source=rel,target=/data", err: `host path "rel" is not absolute`},
		{in: "type=image,source=/srv,target=/data,readonly=maybe", err: "readonly="},
		{in: "type=image,source=/srv,target=/data,consistency=cached", err: `unknown option "consistency"`},
		{in: "type=image,source=/srv,source=/x,target=/data", err: `"source" is given twice`},
		{in: "type=image,source,target=/data", err: `"source" needs a value`},
		{in: "type=image,source=/srv,,target=/data", err: "empty option"},
		{in: "type=image,source=/srv", err: "no guest path"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMountFlag(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, errdefs.ErrInvalid) {
					t.Fatalf("ParseMountFlag(%q) = %+v, %v; want an invalid-argument error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMountFlag(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

// Check refuses two mounts on one guest path, naming both flags, and
// every malformed mount (a record from an API client, not the CLI).
func TestCheck(t *testing.T) {
	a := Mount{Type: TypeBind, Source: "/srv/a", Target: "/data"}
	b := Mount{Type: TypeVolume, Source: "vol", Target: "/data", ReadOnly: true}
	err := Check([]Mount{a, b})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "-v vol:/data:ro: guest path /data is also the target of -v /srv/a:/data") {
		t.Fatalf("Check of two mounts on /data = %v", err)
	}
	if err := Check([]Mount{a, {Type: TypeBind, Source: "/srv/b", Target: "/data/sub"}}); err != nil {
		t.Fatalf("nested guest paths are fine: %v", err)
	}
	for _, m := range []Mount{
		{Type: "nfs", Source: "/a", Target: "/b"},
		{Type: TypeBind, Source: "/a/../b", Target: "/b"},
		{Type: TypeBind, Source: "/a", Target: "/b/"},
		{Type: TypeImage, Source: "/a", Target: "/b", SizeBytes: -1},
		{Type: TypeVolume, Source: "a/b", Target: "/b"},
		{Type: TypeBind, Source: "/a\x00", Target: "/b"},
	} {
		if err := Check([]Mount{m}); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("Check(%+v) = %v; want invalid", m, err)
		}
	}
}

// What a parser accepts renders back, through Flag, to a flag the parser
// reads as the same mount; and whatever it is given, it either refuses
// with an invalid-argument error or returns a mount Check accepts.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{
		"/srv/data:/data", "/srv:/data:ro", "vol:/v", "./x:/y", "/a:/", "/a:/proc",
		"type=image,source=/srv,target=/data,readonly,size=1G", "type=bind,src=/a,dst=/b,ro=false",
		"type=volume,source=v,target=/v", "type=image,source=/a,target=/b,size=1.5G", ":::", "=,=,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, parse := range map[string]func(string) (Mount, error){"-v": ParseVolumeFlag, "--mount": ParseMountFlag} {
			m, err := parse(s)
			if err != nil {
				if !errors.Is(err, errdefs.ErrInvalid) {
					t.Fatalf("%s %q: error %v is not an invalid argument", name, s, err)
				}
				continue
			}
			if err := Check([]Mount{m}); err != nil {
				t.Fatalf("%s %q parsed to %+v, which Check refuses: %v", name, s, m, err)
			}
			flag := m.Flag()
			again, err := reparse(flag)
			if err != nil || again != m {
				// Sizes print rounded ("1.5GiB"); the rest must match.
				if err == nil && again.SizeBytes != m.SizeBytes {
					again.SizeBytes = m.SizeBytes
				}
				if err != nil || again != m {
					t.Fatalf("%s %q → %+v → %q → %+v, %v", name, s, m, flag, again, err)
				}
			}
		}
	})
}

func reparse(flag string) (Mount, error) {
	if v, ok := strings.CutPrefix(flag, "-v "); ok {
		return ParseVolumeFlag(v)
	}
	return ParseMountFlag(strings.TrimPrefix(flag, "--mount "))
}
