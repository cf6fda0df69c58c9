// Package buildctx carries a build's inputs from the user to the daemon
// and reads them there. The CLI packs the context directory itself (Pack:
// it reads the files with the user's permissions, honouring
// .dockerignore; the root daemon never opens a user's path), as one tar
// stream: the Dockerfile, then the context's files. The daemon reads the
// stream into a Tree (Receive): an index of validated entries whose
// contents sit in a scratch directory under names the daemon chose, so a
// hostile name or link in the stream never reaches the host's file
// system. COPY and ADD select sources from a Tree, following symlinks
// only inside it, and write the layer (WriteLayer); InputDigest is what a
// build cache keys them on.
package buildctx

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// The upload's layout: the Dockerfile first, then every context entry
// under contextDir.
const (
	dockerfileName = "Dockerfile"
	contextDir     = "context/"
)

// PackStats says what Pack sent.
type PackStats struct {
	Files, Dirs, Links int
	Bytes              int64
	// Ignored counts entries .dockerignore left out; Skipped sockets,
	// devices and fifos, which a context cannot carry.
	Ignored, Skipped int
}

// Pack writes the build upload to w: dockerfile, then the directory dir
// without what its .dockerignore excludes. Symlinks go as links (never
// followed), hard links as links to the first name, owners as root
// (COPY gives files to root unless --chown says otherwise).
func Pack(w io.Writer, dir string, dockerfile []byte) (PackStats, error) {
	var st PackStats
	pm, err := ignores(dir)
	if err != nil {
		return st, err
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: dockerfileName, Mode: 0o644, Size: int64(len(dockerfile)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return st, err
	}
	if _, err := tw.Write(dockerfile); err != nil {
		return st, err
	}
	p := packer{tw: tw, dir: dir, pm: pm, inodes: map[[2]uint64]string{}, st: &st}
	if err := filepath.WalkDir(dir, p.visit); err != nil {
		return st, err
	}
	return st, tw.Close()
}

// ignores reads dir/.dockerignore; no file means nothing is ignored.
func ignores(dir string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer func() { _ = f.Close() }()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return pm, nil
}

type packer struct {
	tw     *tar.Writer
	dir    string
	pm     *patternmatcher.PatternMatcher
	inodes map[[2]uint64]string
	st     *PackStats
}

func (p *packer) visit(file string, d fs.DirEntry, err error) error {
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	rel, err := filepath.Rel(p.dir, file)
	if err != nil {
		return err
	}
	rel = filepath.ToSlash(rel)
	if rel == "." {
		return nil
	}
	if p.pm != nil {
		ignored, err := p.pm.MatchesOrParentMatches(rel)
		if err != nil {
			return fmt.Errorf(".dockerignore: %w", err)
		}
		if ignored {
			p.st.Ignored++
			// A directory may still hold an excepted (!pattern) file.
			if d.IsDir() && !p.pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
	}
	fi, err := d.Info()
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	return p.add(file, rel, fi)
}

func (p *packer) add(file, rel string, fi fs.FileInfo) error {
	hdr := &tar.Header{Name: contextDir + rel, Mode: tarMode(fi.Mode()), ModTime: fi.ModTime(), Format: tar.FormatPAX}
	var body *os.File
	switch m := fi.Mode(); {
	case m.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		p.st.Dirs++
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(file)
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		p.st.Links++
	case m.IsRegular():
		if s, ok := fi.Sys().(*syscall.Stat_t); ok && s.Nlink > 1 {
			key := [2]uint64{uint64(s.Dev), s.Ino} //nolint:unconvert // Dev's type differs by architecture
			if first, seen := p.inodes[key]; seen {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				p.st.Links++
				break
			}
			p.inodes[key] = hdr.Name
		}
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		defer func() { _ = f.Close() }()
		hdr.Typeflag, hdr.Size, body = tar.TypeReg, fi.Size(), f
		p.st.Files++
		p.st.Bytes += fi.Size()
	default:
		p.st.Skipped++
		return nil
	}
	if err := p.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if body != nil {
		n, err := io.Copy(p.tw, body)
		if err != nil {
			return fmt.Errorf("build context: %s: %w", rel, err)
		}
		if n != hdr.Size {
			return fmt.Errorf("build context: %s changed size while it was read (%d bytes, then %d): %w", rel, hdr.Size, n, io.ErrUnexpectedEOF)
		}
	}
	return nil
}
