package procfs

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// MountInfo is one line of /proc/self/mountinfo.
type MountInfo struct {
	// Major and Minor identify the device (for the root file system: the
	// block device grow_root resizes).
	Major, Minor uint32
	Point        string
	FSType       string
	Source       string
	// SuperOptions are the file system's own options (for a cgroup v1
	// mount, the controllers it carries: "rw,memory").
	SuperOptions []string
}

// ParseMountinfo parses /proc/self/mountinfo (proc(5)); malformed lines
// are skipped.
func ParseMountinfo(r io.Reader) ([]MountInfo, error) {
	var out []MountInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 2 {
			continue
		}
		var mi MountInfo
		if _, err := fmt.Sscanf(f[2], "%d:%d", &mi.Major, &mi.Minor); err != nil {
			continue
		}
		mi.Point, mi.FSType, mi.Source = unescape(f[4]), g[0], unescape(g[1])
		if len(g) > 2 {
			mi.SuperOptions = strings.Split(g[2], ",")
		}
		out = append(out, mi)
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return s[0] <= '3'
}
