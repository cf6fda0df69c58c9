package layerdiff

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/procfs"
)

// mountDirPrefix names the directory Diff mounts its two images in.
const mountDirPrefix = "banger-layerdiff-"

// Sweep lazily unmounts what a Diff killed mid-way (a daemon crash) left
// mounted anywhere under tmp, so the scratch directory holding it can be
// removed; the loop devices are autoclear and go with their mounts. It
// answers how many mounts it undid. Run it before removing scratch
// directories at a daemon's start.
func Sweep(ctx context.Context, tmp string) (int, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return 0, fmt.Errorf("sweep layer diff mounts: %w", err)
	}
	defer func() { _ = f.Close() }()
	mounts, err := procfs.ParseMountinfo(f)
	if err != nil {
		return 0, fmt.Errorf("sweep layer diff mounts: %w", err)
	}
	var errs []error
	plan := sweepPlan(mounts, tmp)
	for _, argv := range plan {
		if _, err := (execRunner{}).run(ctx, argv); err != nil {
			errs = append(errs, err)
		}
	}
	return len(plan) - len(errs), errors.Join(errs...)
}

// sweepPlan is the lazy unmount of every mount point under tmp inside a
// Diff's directory, deepest first.
func sweepPlan(mounts []procfs.MountInfo, tmp string) [][]string {
	tmp = filepath.Clean(tmp) + "/"
	var points []string
	for _, m := range mounts {
		if strings.HasPrefix(m.Point, tmp) && strings.Contains(m.Point, "/"+mountDirPrefix) && !slices.Contains(points, m.Point) {
			points = append(points, m.Point)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	plan := make([][]string, len(points))
	for i, p := range points {
		plan[i] = lazyUmountArgv(p)
	}
	return plan
}
