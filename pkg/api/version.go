package api

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// The API's version, apart from the path prefix (Version): MAJOR.MINOR.
// A daemon speaks APIVersion and still serves clients of every version
// from MinAPIVersion on; a client speaks APIVersion and needs a daemon
// that serves it. Adding an endpoint or a field raises the minor version;
// removing or changing one raises MinAPIVersion too (and the major
// version when the paths change with it).
const (
	APIVersion    = "1.0"
	MinAPIVersion = "1.0"
)

// HeaderAPIVersion is the header every daemon response carries: the
// daemon's APIVersion.
const HeaderAPIVersion = "Banger-Api-Version"

// VersionInfo answers GET /v1/version: the daemon's build and the API
// versions it serves.
type VersionInfo struct {
	// Version is the daemon's banger version ("0.4.0", "dev-1a2b3c4d5e6f").
	Version string `json:"version"`
	// APIVersion is the API version the daemon speaks; MinAPIVersion the
	// oldest a client may speak to it.
	APIVersion    string `json:"api_version"`
	MinAPIVersion string `json:"min_api_version"`
}

// Serves reports whether the daemon serves a client speaking API version
// client: MinAPIVersion <= client <= APIVersion. Errors (a version that
// does not parse) wrap errdefs.ErrInvalid.
func (v VersionInfo) Serves(client string) (bool, error) {
	low, err := CompareAPIVersions(client, v.MinAPIVersion)
	if err != nil {
		return false, err
	}
	high, err := CompareAPIVersions(client, v.APIVersion)
	if err != nil {
		return false, err
	}
	return low >= 0 && high <= 0, nil
}

// CompareAPIVersions compares two MAJOR.MINOR versions as numbers: -1
// when a is older than b, 0 when equal, +1 when newer. Errors wrap
// errdefs.ErrInvalid.
func CompareAPIVersions(a, b string) (int, error) {
	pa, err := parseAPIVersion(a)
	if err != nil {
		return 0, err
	}
	pb, err := parseAPIVersion(b)
	if err != nil {
		return 0, err
	}
	for i := range pa {
		switch {
		case pa[i] < pb[i]:
			return -1, nil
		case pa[i] > pb[i]:
			return 1, nil
		}
	}
	return 0, nil
}

func parseAPIVersion(s string) ([2]int, error) {
	var v [2]int
	major, minor, ok := strings.Cut(s, ".")
	if !ok {
		return v, fmt.Errorf("%w: API version %q: want MAJOR.MINOR", errdefs.ErrInvalid, s)
	}
	for i, part := range []string{major, minor} {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || part != strconv.Itoa(n) {
			return v, fmt.Errorf("%w: API version %q: want MAJOR.MINOR", errdefs.ErrInvalid, s)
		}
		v[i] = n
	}
	return v, nil
}
