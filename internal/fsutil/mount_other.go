//go:build !linux

package fsutil

// mountOf is not known off Linux: errors name the path only.
func mountOf(string) (mount, bool) { return mount{}, false }
