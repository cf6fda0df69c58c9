package users

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

const passwd = `root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken line
app:x:1000:1000:App:/home/app:/bin/zsh
nohome:x:1001:1001:::
bad:x:notanumber:1:::
`

const group = `root:x:0:
app:x:1000:
docker:x:998:app,other
wheel:x:10: app
bad:x:zz:app
`

func TestResolve(t *testing.T) {
	pw, err := ParsePasswd(strings.NewReader(passwd))
	if err != nil {
		t.Fatal(err)
	}
	gr, err := ParseGroup(strings.NewReader(group))
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) != 4 || len(gr) != 4 {
		t.Fatalf("parsed %d users, %d groups; want 4 and 4 (malformed lines skipped)", len(pw), len(gr))
	}
	tests := []struct {
		spec string
		want User
		err  error
	}{
		{"", User{Name: "root", UID: 0, GID: 0, Home: "/root", Shell: "/bin/bash"}, nil},
		{"root", User{Name: "root", Home: "/root", Shell: "/bin/bash"}, nil},
		{"app", User{Name: "app", UID: 1000, GID: 1000, Groups: []uint32{998, 10}, Home: "/home/app", Shell: "/bin/zsh"}, nil},
		{"1000", User{Name: "app", UID: 1000, GID: 1000, Groups: []uint32{998, 10}, Home: "/home/app", Shell: "/bin/zsh"}, nil},
		{"app:docker", User{Name: "app", UID: 1000, GID: 998, Home: "/home/app", Shell: "/bin/zsh"}, nil},
		{"app:5", User{Name: "app", UID: 1000, GID: 5, Home: "/home/app", Shell: "/bin/zsh"}, nil},
		{"4242", User{UID: 4242, Home: "/", Shell: "/bin/sh"}, nil},
		{"4242:4243", User{UID: 4242, GID: 4243, Home: "/", Shell: "/bin/sh"}, nil},
		{"nohome", User{Name: "nohome", UID: 1001, GID: 1001, Home: "/", Shell: "/bin/sh"}, nil},
		{"ghost", User{}, errdefs.ErrNotFound},
		{"app:ghosts", User{}, errdefs.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := Resolve(tt.spec, pw, gr)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Resolve(%q) error = %v, want %v", tt.spec, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Resolve(%q)\n got %+v\nwant %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestLookupScratchImage(t *testing.T) {
	root := t.TempDir()
	u, err := Lookup(root, "")
	if err != nil || u.UID != 0 || u.Name != "root" {
		t.Fatalf("scratch root: %+v, %v", u, err)
	}
	if _, err := Lookup(root, "app"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("named user in a scratch image: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err = Lookup(root, "app")
	if err != nil || u.UID != 1000 || u.Groups != nil {
		t.Fatalf("app without /etc/group: %+v, %v", u, err)
	}
}

func FuzzResolve(f *testing.F) {
	f.Add(passwd, group, "app")
	f.Add("a:b:c", "::::", "1:2")
	f.Fuzz(func(t *testing.T, pw, gr, spec string) {
		p, _ := ParsePasswd(strings.NewReader(pw))
		g, _ := ParseGroup(strings.NewReader(gr))
		u, err := Resolve(spec, p, g)
		if err == nil && u.Home == "" {
			t.Fatalf("resolved user without home: %+v", u)
		}
	})
}
