package e2e

import (
	"strings"
	"sync"
	"testing"

	"github.com/bangerdev/banger/internal/testutil/testimages"
)

var debianOnce sync.Once

// TestDebianImage: a realistic image — a debootstrap'd Debian bookworm
// minbase imported as a tarball — boots and answers.
func TestDebianImage(t *testing.T) {
	f := env(t)
	tar := testimages.DebianMinbaseTar(t)
	debianOnce.Do(func() { f.must(t, "image", "import", tar, "--name", "debian:bookworm") })
	out := f.must(t, "run", "--rm", "debian:bookworm", "--", "cat", "/etc/os-release")
	if !strings.Contains(out, `VERSION_CODENAME=bookworm`) {
		t.Fatalf("os-release:\n%s", out)
	}
	out = f.must(t, "run", "--rm", "-u", "nobody", "debian:bookworm", "--", "sh", "-c", "id -un; ls -ld /etc/shadow")
	if !strings.HasPrefix(out, "nobody\n") || !strings.Contains(out, "-rw-r----- 1 root shadow") {
		t.Errorf("user and ownership in the guest:\n%s", out)
	}
}
