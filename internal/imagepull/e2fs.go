package imagepull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// reserveDir holds the placeholder inodes that size the inode tables (see
// reserveInodes); finishPlan deletes it. It lives in banger's own /.banger.
const reserveDir = bangerDir + "/.inode-reserve"

// step is one e2fsprogs run of the finishing plan.
type step struct {
	argv  []string
	stdin string
	// okCodes are exit codes besides 0 that mean success.
	okCodes []int
	// what the step does, for errors.
	what string
}

// debugfsBatch runs on tar2ext4's output. Its lines are constants: no name
// from an image ever reaches debugfs, whose batch syntax cannot encode
// every name and whose "!" escape runs host commands.
const debugfsBatch = `feature -read-only dir_index
ssv uuid random
clri /` + reserveDir + `
unlink /` + reserveDir + `
`

// finishPlan returns the steps that turn tar2ext4's compact, read-only file
// system at path into a writable image of size bytes:
//   - debugfs clears the read-only feature tar2ext4 sets, enables hashed
//     directories for directories the guest grows, gives the file system
//     its own UUID, and drops the placeholder directory (its inode cleared,
//     its entry unlinked);
//   - e2fsck frees the placeholder inodes, now unattached and empty, and
//     fixes the counts (exit code 1: "errors corrected" is the expected
//     outcome); resize2fs also wants a checked file system;
//   - resize2fs grows it to size;
//   - tune2fs adds the journal tar2ext4 does not write.
func finishPlan(path string, size int64) []step {
	return []step{
		{argv: []string{"debugfs", "-w", "-f", "-", path}, stdin: debugfsBatch, what: "clear read-only, set UUID, drop placeholders"},
		{argv: []string{"e2fsck", "-f", "-y", path}, okCodes: []int{1}, what: "check and free placeholders"},
		{argv: []string{"resize2fs", path, strconv.FormatInt(size/1024, 10) + "K"}, what: "grow to " + strconv.FormatInt(size, 10) + " bytes"},
		{argv: []string{"tune2fs", "-O", "has_journal", path}, what: "add a journal"},
	}
}

// runner executes steps; tests substitute one to record or fail them.
type runner interface {
	run(ctx context.Context, s step) error
}

// execRunner runs e2fsprogs from PATH, or from /usr/sbin and /sbin, which
// an unprivileged user's PATH may lack.
type execRunner struct{}

func (execRunner) run(ctx context.Context, s step) error {
	bin, err := findTool(s.argv[0])
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, s.argv[1:]...)
	cmd.Stdin = strings.NewReader(s.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && slices.Contains(s.okCodes, exit.ExitCode()) {
		err = nil
	}
	// debugfs exits 0 whatever its commands did; its errors go to stderr,
	// after a version banner.
	if err == nil && s.argv[0] == "debugfs" {
		if msg := debugfsErrors(stderr.String()); msg != "" {
			err = errors.New(msg)
		}
	}
	if err != nil {
		return fmt.Errorf("%s (%s): %w: %s", s.argv[0], s.what, err, tail(stderr.String()+stdout.String(), 600))
	}
	return nil
}

func debugfsErrors(stderr string) string {
	var errs []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l != "" && !strings.HasPrefix(l, "debugfs ") {
			errs = append(errs, l)
		}
	}
	return strings.Join(errs, "; ")
}

// tail keeps the last n bytes of s, trimmed.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

func findTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p, err := exec.LookPath(dir + "/" + name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s not found: install e2fsprogs (apt-get install e2fsprogs)", errdefs.ErrUnavailable, name)
}

// RunE2fsprogs runs one e2fsprogs command (mke2fs, debugfs, ...) found in
// PATH, /usr/sbin or /sbin, with stdin; what names the step in errors,
// which quote the tool's output. debugfs's errors, which it reports on
// stderr with exit code 0, fail it too. Other packages that make ext4
// file systems (volumes) run their plans through it.
func RunE2fsprogs(ctx context.Context, argv []string, stdin, what string) error {
	return execRunner{}.run(ctx, step{argv: argv, stdin: stdin, what: what})
}
