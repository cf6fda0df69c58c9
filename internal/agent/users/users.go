// Package users resolves an OCI user string ("name", "uid", "name:group",
// "uid:gid", ...) against an image's /etc/passwd and /etc/group, the way
// container runtimes do, so the guest agent can run a process as the image
// intends without libc (banger-agent is static and the image may have no
// NSS at all). The files are untrusted image content: the parsers skip
// malformed lines and never fail on them.
package users

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// User is a resolved identity.
type User struct {
	Name   string
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups, without GID
	Home   string
	Shell  string
}

// PasswdEntry is one line of /etc/passwd.
type PasswdEntry struct {
	Name  string
	UID   uint32
	GID   uint32
	Home  string
	Shell string
}

// GroupEntry is one line of /etc/group.
type GroupEntry struct {
	Name    string
	GID     uint32
	Members []string
}

// maxLine bounds one line of the files (a hostile image cannot make the
// agent buffer more).
const maxLine = 64 << 10

func scanLines(r io.Reader, fn func(fields []string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fn(strings.Split(line, ":"))
	}
	return sc.Err()
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// ParsePasswd parses /etc/passwd, skipping malformed lines.
func ParsePasswd(r io.Reader) ([]PasswdEntry, error) {
	var out []PasswdEntry
	err := scanLines(r, func(f []string) {
		if len(f) < 7 || f[0] == "" {
			return
		}
		uid, ok1 := parseID(f[2])
		gid, ok2 := parseID(f[3])
		if !ok1 || !ok2 {
			return
		}
		out = append(out, PasswdEntry{Name: f[0], UID: uid, GID: gid, Home: f[5], Shell: f[6]})
	})
	return out, err
}

// ParseGroup parses /etc/group, skipping malformed lines.
func ParseGroup(r io.Reader) ([]GroupEntry, error) {
	var out []GroupEntry
	err := scanLines(r, func(f []string) {
		if len(f) < 4 || f[0] == "" {
			return
		}
		gid, ok := parseID(f[2])
		if !ok {
			return
		}
		var members []string
		for m := range strings.SplitSeq(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				members = append(members, m)
			}
		}
		out = append(out, GroupEntry{Name: f[0], GID: gid, Members: members})
	})
	return out, err
}

// Resolve resolves spec against the given database. An empty spec is root.
// A numeric uid or gid need not exist in the files (as in runc); a name
// must.
func Resolve(spec string, passwd []PasswdEntry, groups []GroupEntry) (User, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	u := User{Home: "/", Shell: "/bin/sh"}
	var found *PasswdEntry
	if uid, ok := parseID(userPart); ok {
		u.UID = uid
		for i := range passwd {
			if passwd[i].UID == uid {
				found = &passwd[i]
				break
			}
		}
	} else {
		for i := range passwd {
			if passwd[i].Name == userPart {
				found = &passwd[i]
				break
			}
		}
		if found == nil {
			return User{}, fmt.Errorf("user %q: not in the image's /etc/passwd: %w", userPart, errdefs.ErrNotFound)
		}
		u.UID = found.UID
	}
	if found != nil {
		u.Name, u.GID = found.Name, found.GID
		if found.Home != "" {
			u.Home = found.Home
		}
		if found.Shell != "" {
			u.Shell = found.Shell
		}
	} else if u.UID == 0 {
		u.Name = "root"
		u.Home = "/root"
	}
	if hasGroup && groupPart != "" {
		gid, ok := parseID(groupPart)
		if !ok {
			matched := false
			for _, g := range groups {
				if g.Name == groupPart {
					gid, matched = g.GID, true
					break
				}
			}
			if !matched {
				return User{}, fmt.Errorf("group %q: not in the image's /etc/group: %w", groupPart, errdefs.ErrNotFound)
			}
		}
		u.GID = gid
		return u, nil // an explicit group means no supplementary groups (runc)
	}
	if u.Name != "" {
		for _, g := range groups {
			if g.GID == u.GID {
				continue
			}
			for _, m := range g.Members {
				if m == u.Name {
					u.Groups = append(u.Groups, g.GID)
					break
				}
			}
		}
	}
	return u, nil
}

// Lookup resolves spec against root/etc/passwd and root/etc/group; missing
// files count as empty (a scratch image has neither).
func Lookup(root, spec string) (User, error) {
	var passwd []PasswdEntry
	var groups []GroupEntry
	if f, err := os.Open(filepath.Join(root, "etc/passwd")); err == nil {
		passwd, err = ParsePasswd(f)
		_ = f.Close()
		if err != nil {
			return User{}, fmt.Errorf("read /etc/passwd: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return User{}, err
	}
	if f, err := os.Open(filepath.Join(root, "etc/group")); err == nil {
		groups, err = ParseGroup(f)
		_ = f.Close()
		if err != nil {
			return User{}, fmt.Errorf("read /etc/group: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return User{}, err
	}
	return Resolve(spec, passwd, groups)
}
