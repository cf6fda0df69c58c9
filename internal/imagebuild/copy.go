package imagebuild

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bangerdev/banger/internal/buildctx"
	"github.com/bangerdev/banger/internal/dockerfile"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// copyFormat versions how a COPY layer is written, in its cache key: a
// layer kept before destination directories were created (format 1)
// is not taken for one now.
const copyFormat = "copy-layer/2"

// copy runs COPY or ADD: the layer is written from the context (or the
// --from image's files) on the host; nothing boots.
func (r *build) copy(ctx context.Context, s *state, step dockerfile.Step) (bool, error) {
	f := step.Files
	tree, err := r.source(ctx, f.From)
	if err != nil {
		return false, err
	}
	cf, err := s.img.ConfigFile()
	if err != nil {
		return false, fmt.Errorf("read the image's config: %w", err)
	}
	var matches []buildctx.Match
	for _, src := range f.Sources {
		ms, err := tree.Select(src)
		if err != nil {
			return false, err
		}
		matches = append(matches, ms...)
	}
	if step.Kind == dockerfile.Add && f.From == nil {
		if err := r.unpack(matches); err != nil {
			return false, err
		}
	}
	destDir := strings.HasSuffix(f.Dest, "/") || f.Dest == "." || f.Dest == ""
	if len(matches) > 1 && !destDir {
		return false, fmt.Errorf("%d sources go to %s: %w; end the destination with / to copy them into a directory", len(matches), f.Dest, errdefs.ErrInvalid)
	}
	spec := buildctx.CopySpec{Dest: f.Dest, DestDir: destDir}
	if !path.IsAbs(f.Dest) {
		spec.Dest = path.Join("/", cf.Config.WorkingDir, f.Dest)
	}
	if f.Chown != "" {
		o, err := r.owner(ctx, s.img, f.Chown)
		if err != nil {
			return false, err
		}
		spec.Chown = &o
	}
	if f.Chmod != "" {
		m, err := strconv.ParseUint(f.Chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return false, fmt.Errorf("--chmod=%s: want an octal mode such as 0644: %w", f.Chmod, errdefs.ErrInvalid)
		}
		spec.Chmod = fs.FileMode(m)
	}
	inputs, err := buildctx.InputDigest(matches, spec)
	if err != nil {
		return false, err
	}
	key := chain(s.key, step.Key(), inputs, copyFormat)
	file, hit := r.cachedLayer(key)
	if !hit {
		// The image decides which destination directories the layer
		// creates (the parent key already names the image, so the cache
		// key needs none of this).
		if spec.Existing, err = pathKinds(s.img, spec.DestPaths()); err != nil {
			return false, fmt.Errorf("look up %s in the image: %w", spec.Dest, err)
		}
		workdirExists(spec.Existing, cf.Config.WorkingDir)
		if file, err = r.keepLayer(key, func(w io.Writer) error { return buildctx.WriteLayer(w, matches, spec) }); err != nil {
			return false, fmt.Errorf("write the layer: %w", err)
		}
	}
	layer, err := tarball.LayerFromFile(file)
	if err != nil {
		return false, err
	}
	img, err := mutate.Append(s.img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: step.Source, Comment: historyComment}})
	if err != nil {
		return false, err
	}
	s.img, s.key, s.boot = img, key, Stored{}
	return hit, nil
}

// unpack replaces each local archive ADD names by its contents.
func (r *build) unpack(matches []buildctx.Match) error {
	for i, m := range matches {
		dir := r.scratch("archive")
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		um, ok, err := buildctx.Unpack(m, dir, r.opts.MaxFilesBytes)
		if err != nil {
			return err
		}
		if ok {
			matches[i] = um
		}
	}
	return nil
}

// source is the tree a COPY reads: the build context, or the files of
// an earlier stage or an image (COPY --from), extracted once a build.
func (r *build) source(ctx context.Context, from *dockerfile.Base) (*buildctx.Tree, error) {
	if from == nil {
		return r.ctx, nil
	}
	var img v1.Image
	switch from.Kind {
	case dockerfile.BaseStage:
		img = r.stages[from.Stage].img
	default:
		i, _, err := r.Images.Base(ctx, from.Image, r.sink)
		if err != nil {
			return nil, fmt.Errorf("--from=%s: %w", from.Image, err)
		}
		img = i
	}
	return r.imageTree(ctx, img)
}

// imageTree reads an image's files into a tree, once per image.
func (r *build) imageTree(ctx context.Context, img v1.Image) (*buildctx.Tree, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	if t, ok := r.trees[d.String()]; ok {
		return t, nil
	}
	dir := r.scratch("files")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	rc := r.files(ctx, img)
	defer func() { _ = rc.Close() }()
	t, err := buildctx.ReadTree(rc, dir, true, r.opts.MaxFilesBytes)
	if err != nil {
		return nil, fmt.Errorf("read the files of %s: %w", d, err)
	}
	r.trees[d.String()] = t
	return t, nil
}

// files streams img's flattened files through imagepull's Flatten, which
// keeps hardlinks whose target a later layer overwrites or deletes (the
// way mutate.Extract does not). Closing the reader early stops it, and
// returns once the flatten has let go of its spool.
func (r *build) files(ctx context.Context, img v1.Image) io.ReadCloser {
	pr, pw := io.Pipe()
	spool := r.scratch("spool")
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := os.Mkdir(spool, 0o700)
		if err == nil {
			err = imagepull.ExtractImage(ctx, img, pw, imagepull.FlattenOptions{TmpDir: spool, MaxBytes: r.opts.MaxFilesBytes})
		}
		_ = pw.CloseWithError(err)
	}()
	return &flattened{PipeReader: pr, done: done}
}

// flattened is the reading end of files.
type flattened struct {
	*io.PipeReader
	done chan struct{}
}

func (f *flattened) Close() error {
	err := f.PipeReader.Close()
	<-f.done
	return err
}

// owner resolves --chown=USER[:GROUP]: numbers as they are, names from
// the image's /etc/passwd and /etc/group (a user alone gives its own
// group, as docker does; a uid alone, the same number as gid).
func (r *build) owner(ctx context.Context, img v1.Image, chown string) (buildctx.Owner, error) {
	user, group, hasGroup := strings.Cut(chown, ":")
	uid, uerr := strconv.Atoi(user)
	gid, gerr := strconv.Atoi(group)
	if uerr == nil && (!hasGroup || gerr == nil) {
		if !hasGroup {
			gid = uid
		}
		return buildctx.Owner{UID: uid, GID: gid}, nil
	}
	tree, err := r.accounts(ctx, img)
	if err != nil {
		return buildctx.Owner{}, err
	}
	primary := -1
	if uerr != nil {
		fields, err := lookupDB(tree, "etc/passwd", user)
		if err != nil {
			return buildctx.Owner{}, fmt.Errorf("--chown=%s: %w", chown, err)
		}
		uid, _ = strconv.Atoi(fields[2])
		primary, _ = strconv.Atoi(fields[3])
	}
	switch {
	case !hasGroup && primary >= 0:
		gid = primary
	case !hasGroup:
		gid = uid
	case gerr != nil:
		fields, err := lookupDB(tree, "etc/group", group)
		if err != nil {
			return buildctx.Owner{}, fmt.Errorf("--chown=%s: %w", chown, err)
		}
		gid, _ = strconv.Atoi(fields[2])
	}
	return buildctx.Owner{UID: uid, GID: gid}, nil
}

// accountFiles are what --chown=NAME is resolved from.
var accountFiles = []string{"etc/passwd", "etc/group"}

// accounts reads an image's /etc/passwd and /etc/group into a tree,
// once per image, and nothing else: a COPY --chown=NAME runs before its
// cache lookup (the resolved owner is in the key), so a cached rebuild
// would otherwise write and hash every file of the image to read two.
// When either is a link, it resolves in the image's whole tree.
func (r *build) accounts(ctx context.Context, img v1.Image) (*buildctx.Tree, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	if t, ok := r.trees[d.String()]; ok {
		return t, nil // the whole tree, already read for a COPY --from
	}
	key := "accounts " + d.String()
	if t, ok := r.trees[key]; ok {
		return t, nil
	}
	dir := r.scratch("accounts")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	t := buildctx.NewTree(dir, true, r.opts.MaxFilesBytes)
	rc := r.files(ctx, img)
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for found := 0; found < len(accountFiles); {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read the files of %s: %w", d, err)
		}
		if !slices.Contains(accountFiles, strings.TrimPrefix(path.Clean("/"+h.Name), "/")) {
			continue
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA { //nolint:staticcheck // TypeRegA still appears in old archives
			return r.imageTree(ctx, img)
		}
		if err := t.Add(h, h.Name, tr); err != nil {
			return nil, fmt.Errorf("read the files of %s: %w", d, err)
		}
		found++
	}
	r.trees[key] = t
	return t, nil
}

// lookupDB finds name in a passwd-format file of the tree and answers
// its fields (at least four, the third and fourth numeric).
func lookupDB(tree *buildctx.Tree, file, name string) ([]string, error) {
	ms, err := tree.Select(file)
	if err != nil {
		return nil, fmt.Errorf("the image has no /%s to find %q in: %w", file, name, errdefs.ErrNotFound)
	}
	rc, err := tree.Open(ms[0].Entry)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 || f[0] != name {
			continue
		}
		if _, err := strconv.Atoi(f[2]); err != nil {
			continue
		}
		if _, err := strconv.Atoi(f[3]); err != nil && file == "etc/passwd" {
			continue
		}
		return f, nil
	}
	return nil, fmt.Errorf("no %q in the image's /%s: %w", name, file, errdefs.ErrNotFound)
}
