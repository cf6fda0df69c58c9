// Command benchlayerdiff times internal/layerdiff against a baseline on
// one workload (`make bench-layerdiff`): an ext4 image of a root file
// system tarball, and a copy of it changed through the kernel the way a
// RUN step changes a disk (files written, a tree deleted, modes changed).
//
//   - banger:   layerdiff.Diff of the two images, the layer counted and
//     discarded;
//   - baseline: the same two images mounted read-only on loop devices and
//     compared by `rsync -a --dry-run --delete --itemize-changes`, the
//     usual metadata-only double walk, which writes no layer at all.
//
// It prints each side's median over -rounds and the ratio. Root only.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/layerdiff"
)

func main() {
	tarball := flag.String("tar", "", "root file system tarball (uncompressed)")
	rounds := flag.Int("rounds", 5, "rounds")
	flag.Parse()
	if err := run(context.Background(), *tarball, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "benchlayerdiff:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, tarball string, rounds int) error {
	if tarball == "" || rounds < 1 {
		return fmt.Errorf("usage: benchlayerdiff -tar FILE [-rounds N]")
	}
	work, err := os.MkdirTemp("", "banger-bench-layerdiff.")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()
	lower, upper := filepath.Join(work, "lower.ext4"), filepath.Join(work, "upper.ext4")
	if err := build(ctx, tarball, lower); err != nil {
		return err
	}
	if err := cp(lower, upper); err != nil {
		return err
	}
	if err := withMount(ctx, upper, "loop", work, change); err != nil {
		return err
	}
	var ours, base []time.Duration
	var st layerdiff.Stats
	var size int64
	for i := range rounds {
		cw := &counter{}
		t0 := time.Now()
		if st, err = layerdiff.Diff(ctx, lower, upper, cw, layerdiff.Options{TmpDir: work}); err != nil {
			return err
		}
		ours = append(ours, time.Since(t0))
		size = cw.n
		t0 = time.Now()
		if err := rsyncBaseline(ctx, lower, upper, work); err != nil {
			return err
		}
		base = append(base, time.Since(t0))
		fmt.Printf("round %d: banger %.2fs  baseline %.2fs\n", i+1, ours[i].Seconds(), base[i].Seconds())
	}
	fmt.Printf("layer: %d entries (%d added, %d changed, %d deleted, %d parents), %d bytes\n", st.Entries(), st.Added, st.Changed, st.Deleted, st.Parents, size)
	m, b := median(ours), median(base)
	fmt.Printf("banger (layerdiff.Diff, mounts included):        median %.2fs\n", m.Seconds())
	fmt.Printf("baseline (mount both + rsync -an --delete -i):   median %.2fs\n", b.Seconds())
	fmt.Printf("ratio banger/baseline: %.2fx\n", m.Seconds()/b.Seconds())
	return nil
}

// build makes the ext4 image of tarball, as a pull would (without the
// agent).
func build(ctx context.Context, tarball, out string) error {
	_, err := imagepull.BuildExt4(ctx, out, imagepull.Ext4Options{HeadroomPercent: 30}, func(s imagepull.Sink) error {
		_, err := imagepull.Flatten(ctx, []imagepull.Layer{{ID: "rootfs", Open: func() (io.ReadCloser, error) { return os.Open(tarball) }}}, s, imagepull.FlattenOptions{})
		return err
	})
	return err
}

// change is the workload: a package-install-like set of changes.
func change(root string) error {
	dir := filepath.Join(root, "opt", "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	buf := bytes.Repeat([]byte("banger layer diff benchmark\n"), 512) // 14 KiB
	for i := range 500 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%04d", i)), buf, 0o644); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(filepath.Join(root, "usr", "share", "doc")); err != nil {
		return err
	}
	for _, p := range []string{"etc/passwd", "etc/group", "usr/bin"} {
		if err := os.Chmod(filepath.Join(root, p), 0o750); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(root, "etc", "motd"), []byte("changed\n"), 0o644)
}

func rsyncBaseline(ctx context.Context, lower, upper, work string) error {
	return withMount(ctx, lower, "ro,loop,noload", work, func(l string) error {
		return withMount(ctx, upper, "ro,loop,noload", work, func(u string) error {
			cmd := exec.CommandContext(ctx, "rsync", "-a", "--dry-run", "--delete", "--itemize-changes", "--numeric-ids", u+"/", l+"/")
			var errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.Discard, &errb
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("rsync: %w: %s", err, errb.String())
			}
			return nil
		})
	})
}

// withMount mounts image on a new directory in work for fn.
func withMount(ctx context.Context, image, opts, work string, fn func(dir string) error) error {
	dir, err := os.MkdirTemp(work, "mnt-")
	if err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "mount", "-o", opts, image, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("mount %s: %w: %s", image, err, out)
	}
	ferr := fn(dir)
	if out, err := exec.CommandContext(context.WithoutCancel(ctx), "umount", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("umount %s: %w: %s", dir, err, out)
	}
	return ferr
}

// cp copies the image as a VM's disk is cloned: a block copy, holes kept.
func cp(src, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if err := fsutil.CopySparse(f, src); err != nil {
		_ = f.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return f.Close()
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
