// Package ext4test reads ext4 images back for tests with e2fsprogs —
// debugfs to list, stat, cat and dump, e2fsck to check — without root, a
// mount or a loop device. Paths are resolved by walking directories by
// inode number, so names with newlines, quotes or debugfs syntax never
// have to be typed into debugfs.
package ext4test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// Inode is one directory entry's inode as debugfs lists it.
type Inode struct {
	Ino uint64
	// Mode is the full mode: file type (S_IF*) and permission bits.
	Mode     uint32
	UID, GID uint32
	Size     int64
}

// File types in Inode.Mode.
const (
	TypeMask = 0o170000
	TypeDir  = 0o040000
	TypeReg  = 0o100000
	TypeLink = 0o120000
)

// Type is Mode's file type bits.
func (i Inode) Type() uint32 { return i.Mode & TypeMask }

// Perm is Mode's permission bits, setuid, setgid and sticky included.
func (i Inode) Perm() uint32 { return i.Mode & 0o7777 }

// Image is an ext4 image file under test.
type Image struct {
	t    testing.TB
	path string
}

// Open returns an Image for path; it skips without e2fsprogs.
func Open(t testing.TB, path string) *Image {
	t.Helper()
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	return &Image{t: t, path: path}
}

func (im *Image) run(stdin string, args ...string) []byte {
	im.t.Helper()
	cmd := exec.CommandContext(context.Background(), args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		im.t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.Bytes()
}

// Fsck runs e2fsck -fn and fails the test unless the file system is clean.
func (im *Image) Fsck() {
	im.t.Helper()
	im.run("", "e2fsck", "-f", "-n", im.path)
}

// lsRecord matches one entry of `ls -p`: /ino/mode/uid/gid/name/size/.
// Names cannot hold "/", so [^/]* takes newlines and all.
var lsRecord = regexp.MustCompile(`/(\d+)/(\d+)/(\d+)/(\d+)/([^/]*)/(\d*)/\n`)

// Tree lists every path of the image (relative, "" is the root) with its
// inode, walking one directory level per debugfs run.
func (im *Image) Tree() map[string]Inode {
	im.t.Helper()
	tree := map[string]Inode{"": {Ino: 2, Mode: TypeDir | 0o755}}
	level := []string{""}
	for len(level) > 0 {
		var batch strings.Builder
		for _, dir := range level {
			fmt.Fprintf(&batch, "ls -p <%d>\n", tree[dir].Ino)
		}
		out := string(im.run(batch.String(), "debugfs", "-f", "-", im.path))
		chunks := strings.Split(out, "debugfs: ls -p <")[1:]
		if len(chunks) != len(level) {
			im.t.Fatalf("debugfs listed %d of %d directories", len(chunks), len(level))
		}
		var next []string
		for i, chunk := range chunks {
			for _, m := range lsRecord.FindAllStringSubmatch(chunk, -1) {
				name := m[5]
				if m[1] == "0" || name == "." || name == ".." {
					continue
				}
				p := name
				if level[i] != "" {
					p = level[i] + "/" + name
				}
				ino, _ := strconv.ParseUint(m[1], 10, 64)
				mode, _ := strconv.ParseUint(m[2], 8, 32)
				uid, _ := strconv.ParseUint(m[3], 10, 32)
				gid, _ := strconv.ParseUint(m[4], 10, 32)
				size, _ := strconv.ParseInt(m[6], 10, 64)
				in := Inode{Ino: ino, Mode: uint32(mode), UID: uint32(uid), GID: uint32(gid), Size: size}
				tree[p] = in
				if in.Type() == TypeDir {
					next = append(next, p)
				}
			}
		}
		level = next
	}
	return tree
}

// Cat returns a regular file's content (or a slow symlink's target).
func (im *Image) Cat(ino uint64) []byte {
	im.t.Helper()
	return im.run("", "debugfs", "-R", fmt.Sprintf("cat <%d>", ino), im.path)
}

// Readlink returns a symlink's target.
func (im *Image) Readlink(ino uint64) string {
	im.t.Helper()
	stat := string(im.run("", "debugfs", "-R", fmt.Sprintf("stat <%d>", ino), im.path))
	const fast = "Fast link dest: \""
	if i := strings.Index(stat, fast); i >= 0 {
		rest := stat[i+len(fast):]
		return rest[:strings.LastIndex(rest[:strings.IndexByte(rest, '\n')], "\"")]
	}
	return string(im.Cat(ino))
}

// Xattr returns the value of attribute name of inode ino, and whether it
// exists.
func (im *Image) Xattr(ino uint64, name string) ([]byte, bool) {
	im.t.Helper()
	out := filepath.Join(im.t.TempDir(), "xattr")
	cmd := exec.CommandContext(context.Background(), "debugfs", "-R", fmt.Sprintf("ea_get -f %s <%d> %s", out, ino, name), im.path)
	msg, _ := cmd.CombinedOutput()
	if bytes.Contains(msg, []byte("not found")) {
		return nil, false
	}
	b, err := os.ReadFile(out)
	if err != nil {
		im.t.Fatalf("ea_get %s: %v\n%s", name, err, msg)
	}
	return b, true
}

// Super returns the superblock fields dumpe2fs -h prints ("Inode count",
// "Filesystem features", ...).
func (im *Image) Super() map[string]string {
	im.t.Helper()
	out := im.run("", "dumpe2fs", "-h", im.path)
	fields := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return fields
}
