package imagebuild

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/buildctx"
)

// pathKinds answers what each of paths (clean and absolute, each one's
// parents among them) is in img's file system. It reads only the
// layers' tar headers, newest layer first, and stops once every path is
// decided: the newest layer naming a path, or whiting it (or a parent)
// out, decides it.
func pathKinds(img v1.Image, paths []string) (map[string]buildctx.PathKind, error) {
	kinds := map[string]buildctx.PathKind{}
	if len(paths) == 0 {
		return kinds, nil
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	decided := map[string]bool{}
	for i := len(layers) - 1; i >= 0 && len(decided) < len(paths); i-- {
		gone, opaque, err := scanLayer(layers[i], paths, kinds, decided)
		if err != nil {
			return nil, fmt.Errorf("read layer %d of the image: %w", i+1, err)
		}
		// What this layer whites out, empties (opaque) or replaces by a
		// non-directory is absent below it, whatever older layers say.
		for _, p := range paths {
			if decided[p] {
				continue
			}
			if hidden(p, gone, opaque) || belowNotDir(p, paths, kinds, decided) {
				decided[p] = true
			}
		}
	}
	return kinds, nil
}

// workdirExists marks the working directory and its parents as
// directories where kinds has them absent. Docker's WORKDIR makes the
// directory (root's, under the default USER) as a layer of its own;
// banger's WORKDIR changes only the config, and a guest gets the
// directory at its start. So "WORKDIR /app" then "COPY --chown=app . ."
// leaves /app root's, as docker does, instead of creating it as app's.
func workdirExists(kinds map[string]buildctx.PathKind, wd string) {
	for p := path.Clean("/" + wd); p != "/"; p = path.Dir(p) {
		if kinds[p] == buildctx.Absent {
			kinds[p] = buildctx.Dir
		}
	}
}

// scanLayer records the kinds of the undecided paths layer names, and
// answers what its whiteouts hide from older layers: gone paths (and
// what is under them), and opaque directories (what is under them).
func scanLayer(layer v1.Layer, paths []string, kinds map[string]buildctx.PathKind, decided map[string]bool) (gone, opaque []string, err error) {
	want := map[string]bool{}
	for _, p := range paths {
		if !decided[p] {
			want[p] = true
		}
	}
	rc, err := layer.Uncompressed()
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	var seen []string
	implied := map[string]bool{} // parents of what the layer names
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		p := path.Clean("/" + h.Name)
		dir, base := path.Split(p)
		for a := path.Dir(p); a != "/"; a = path.Dir(a) {
			if want[a] {
				implied[a] = true
			}
		}
		switch {
		case base == ".wh..wh..opq":
			opaque = append(opaque, path.Clean(dir))
		case strings.HasPrefix(base, ".wh."):
			gone = append(gone, path.Join(dir, strings.TrimPrefix(base, ".wh.")))
		case want[p]:
			seen = append(seen, p)
			kinds[p] = buildctx.NotDir
			if h.Typeflag == tar.TypeDir {
				kinds[p] = buildctx.Dir
			}
		}
	}
	for _, p := range seen {
		decided[p] = true
	}
	// A layer naming a/b has a directory a, named or not.
	for a := range implied {
		if !decided[a] {
			kinds[a], decided[a] = buildctx.Dir, true
		}
	}
	return gone, opaque, nil
}

// hidden reports whether a layer's whiteouts hide p: p or a parent is
// gone, or a parent is opaque.
func hidden(p string, gone, opaque []string) bool {
	for _, g := range gone {
		if p == g || under(p, g) {
			return true
		}
	}
	for _, o := range opaque {
		if under(p, o) {
			return true
		}
	}
	return false
}

// belowNotDir reports whether a decided path above p is no directory.
func belowNotDir(p string, paths []string, kinds map[string]buildctx.PathKind, decided map[string]bool) bool {
	for _, q := range paths {
		if decided[q] && kinds[q] == buildctx.NotDir && under(p, q) {
			return true
		}
	}
	return false
}

// under reports whether p is strictly below directory dir.
func under(p, dir string) bool {
	return dir == "/" && p != "/" || strings.HasPrefix(p, dir+"/")
}
