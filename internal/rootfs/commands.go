package rootfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Command is one program run as a value: its argv and the exit statuses
// besides 0 that mean success.
type Command struct {
	Argv   []string
	OKExit []int
}

func (c Command) String() string { return strings.Join(c.Argv, " ") }

// Runner runs commands; tests record them instead.
type Runner interface {
	Run(ctx context.Context, c Command) error
}

// ExecRunner runs commands with os/exec; a failure carries the command and
// the tail of its output.
type ExecRunner struct{}

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, c Command) error {
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && slices.Contains(c.OKExit, exit.ExitCode()) {
		return nil
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 600 {
			msg = "…" + msg[len(msg)-600:]
		}
		return fmt.Errorf("%s: %w: %s", c.Argv[0], err, msg)
	}
	return nil
}

// growRaw grows the ext4 in a raw disk file to the file's size, offline.
// resize2fs insists on a freshly checked file system; e2fsck exit status 1
// means it corrected something, which is still a usable file system.
func growRaw(path string) []Command {
	return []Command{
		{Argv: []string{"e2fsck", "-f", "-y", path}, OKExit: []int{1}},
		{Argv: []string{"resize2fs", path}},
	}
}

// qcow2Create makes an overlay of a raw image, of size bytes (0 keeps the
// image's size). The backing format is given explicitly: without it QEMU
// probes the image's format, which a guest-written raw image could spoof.
func qcow2Create(image, path string, size int64) Command {
	argv := []string{"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", image, path}
	if size > 0 {
		argv = append(argv, strconv.FormatInt(size, 10))
	}
	return Command{Argv: argv}
}
