package layerdiff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/bangerdev/banger/internal/rootfs/dmsnap"
)

// runner runs one command and returns its standard output; tests replace
// it to check the commands as values.
type runner interface {
	run(ctx context.Context, argv []string) (string, error)
}

type execRunner struct{}

func (execRunner) run(ctx context.Context, argv []string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // argv is one of the constant plans below
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// attacher gives a read-only autoclear loop device for an image file and
// the hold that keeps it until a mount opens it (dmsnap.AttachLoop);
// tests replace it.
type attacher func(file string) (dev string, hold io.Closer, err error)

// loopLabel names Diff's loop devices (their lo_file_name, which
// `losetup --list` shows).
const loopLabel = "banger-layerdiff"

func attachLoop(file string) (string, io.Closer, error) {
	return dmsnap.AttachLoop(file, loopLabel, true)
}

// mountOptions: read-only, no journal replay (a read-only device cannot be
// written, and an untrusted journal is not replayed), and nothing on the
// file system can act as a device, a setuid program or an executable.
const mountOptions = "ro,noload,nodev,nosuid,noexec"

func mountArgv(dev, dir string) []string {
	return []string{"mount", "-t", "ext4", "-o", mountOptions, "--", dev, dir}
}

func umountArgv(dir string) []string { return []string{"umount", "--", dir} }

// lazyUmountArgv detaches a mount that is still busy; the kernel frees it
// when its last user goes.
func lazyUmountArgv(dir string) []string { return []string{"umount", "--lazy", "--", dir} }

// mountRO mounts the ext4 file read-only on dir (an empty directory) and
// returns what undoes it. The loop device is autoclear: it goes when the
// mount does (or at once, when the mount fails), so no path — a crash
// included — has to detach it. On error nothing stays mounted.
func mountRO(ctx context.Context, r runner, attach attacher, file, dir string) (release func() error, err error) {
	dev, hold, err := attach(file)
	if err != nil {
		return nil, fmt.Errorf("attach %s to a loop device: %w", file, err)
	}
	defer func() { _ = hold.Close() }() // the mount holds the device from here
	if _, err := r.run(ctx, mountArgv(dev, dir)); err != nil {
		return nil, fmt.Errorf("mount %s: is it an ext4 image? %w", file, err)
	}
	return func() error {
		ctx := context.WithoutCancel(ctx)
		if _, err := r.run(ctx, umountArgv(dir)); err != nil {
			if _, lerr := r.run(ctx, lazyUmountArgv(dir)); lerr != nil {
				return errors.Join(fmt.Errorf("unmount %s: %w", dir, err), lerr)
			}
		}
		return nil
	}, nil
}
