package layerdiff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
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

// mountOptions: read-only, no journal replay (a read-only device cannot be
// written, and an untrusted journal is not replayed), and nothing on the
// file system can act as a device, a setuid program or an executable.
const mountOptions = "ro,noload,nodev,nosuid,noexec"

func attachArgv(file string) []string {
	return []string{"losetup", "--find", "--show", "--read-only", "--", file}
}

func mountArgv(dev, dir string) []string {
	return []string{"mount", "-t", "ext4", "-o", mountOptions, "--", dev, dir}
}

func umountArgv(dir string) []string { return []string{"umount", "--", dir} }

// lazyUmountArgv detaches a mount that is still busy; the kernel frees it
// when its last user goes.
func lazyUmountArgv(dir string) []string { return []string{"umount", "--lazy", "--", dir} }

// detachArgv frees the loop device; on a device still in use the kernel
// sets autoclear instead, so it goes with its last user.
func detachArgv(dev string) []string { return []string{"losetup", "--detach", dev} }

// mountRO mounts the ext4 file read-only on dir (an empty directory) and
// returns what undoes it. On error nothing stays attached or mounted.
func mountRO(ctx context.Context, r runner, file, dir string) (release func() error, err error) {
	out, err := r.run(ctx, attachArgv(file))
	if err != nil {
		return nil, fmt.Errorf("attach %s to a loop device: %w", file, err)
	}
	dev := strings.TrimSpace(out)
	if !strings.HasPrefix(dev, "/dev/loop") {
		return nil, fmt.Errorf("attach %s to a loop device: losetup printed %q", file, dev)
	}
	detach := func() error {
		if _, err := r.run(context.WithoutCancel(ctx), detachArgv(dev)); err != nil {
			return fmt.Errorf("detach %s (%s): %w", dev, file, err)
		}
		return nil
	}
	if _, err := r.run(ctx, mountArgv(dev, dir)); err != nil {
		return nil, errors.Join(fmt.Errorf("mount %s: is it an ext4 image? %w", file, err), detach())
	}
	return func() error {
		ctx := context.WithoutCancel(ctx)
		if _, err := r.run(ctx, umountArgv(dir)); err != nil {
			if _, lerr := r.run(ctx, lazyUmountArgv(dir)); lerr != nil {
				return errors.Join(fmt.Errorf("unmount %s: %w", dir, err), lerr, detach())
			}
		}
		return detach()
	}, nil
}
