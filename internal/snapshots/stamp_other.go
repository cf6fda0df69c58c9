//go:build !linux

package snapshots

import (
	"fmt"
	"runtime"
)

// stamp is empty where the file's change time is not read: every lookup
// hashes the files.
type stamp struct{}

func stampOf(string) (stamp, error) {
	return stamp{}, fmt.Errorf("file stamps: not supported on %s", runtime.GOOS)
}
