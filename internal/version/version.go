// Package version holds banger's version, stamped at build time with
// -ldflags "-X github.com/bangerdev/banger/internal/version.Version=...".
package version

import "runtime/debug"

// Version is the release version or "dev".
var Version = "dev"

// String returns the version with the VCS revision when the binary was built
// from a git checkout.
func String() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return Version
}
