//go:build !linux

package rootfs

// detectReflink: FICLONE is Linux's.
func detectReflink(string) Capability {
	return Capability{Reason: "reflinks (FICLONE) are supported on Linux only"}
}

func sameFilesystem(string, string) bool { return false }
