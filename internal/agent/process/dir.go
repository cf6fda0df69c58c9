package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bangerdev/banger/internal/agent/users"
)

// EnsureDir makes spec's working directory when it does not exist, as
// docker does for `run -w`: every directory it creates belongs to spec's
// user. root is the guest's "/". An existing path is left as it is (a
// file there fails later, at start, with the shell's status).
func EnsureDir(root string, spec Spec) error {
	if spec.Dir == "" || spec.Dir == "/" {
		return nil
	}
	if !filepath.IsAbs(spec.Dir) {
		return fmt.Errorf("working dir %q: want an absolute path", spec.Dir)
	}
	if _, err := os.Lstat(filepath.Join(root, spec.Dir)); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	u, err := users.Lookup(root, spec.User)
	if err != nil {
		return err
	}
	// Walk down from the first missing directory, creating and chowning.
	p := root
	for _, part := range strings.Split(strings.Trim(filepath.Clean(spec.Dir), "/"), "/") {
		p = filepath.Join(p, part)
		switch err := os.Mkdir(p, 0o755); {
		case err == nil:
			if err := os.Lchown(p, int(u.UID), int(u.GID)); err != nil {
				return fmt.Errorf("working dir %s: %w", spec.Dir, err)
			}
		case errors.Is(err, os.ErrExist):
		default:
			return fmt.Errorf("working dir %s: %w", spec.Dir, err)
		}
	}
	return nil
}
