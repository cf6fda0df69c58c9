package dockerapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/common"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// errPageNotFound is Docker's answer to a path it does not serve.
var errPageNotFound = kindError(errdefs.ErrNotFound, "page not found")

// writeError answers err as Docker does: {"message": ...} with the
// status its errdefs sentinel maps to (404, 409, 400, 501, 503; 500
// otherwise).
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, errdefs.HTTPStatus(err), common.ErrorResponse{Message: err.Error()})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Refusal is an option a container in a VM cannot honour: Option names
// it as the CLI flag and the API field, Why says what a VM does instead.
type Refusal struct {
	Option string
	Why    string
}

func (r Refusal) Error() string {
	return fmt.Sprintf("%s is not supported by banger: %s", r.Option, r.Why)
}

// Unwrap makes a refusal a bad parameter (400).
func (r Refusal) Unwrap() error { return errdefs.ErrInvalid }

// refuse returns the refusal of option for why.
func refuse(option, why string) error { return Refusal{Option: option, Why: why} }

// checkVersion refuses an API version outside the served range, in
// Docker's words.
func checkVersion(v string) error {
	if lessVersion(v, MinAPIVersion) {
		return kindError(errdefs.ErrInvalid, "client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion)
	}
	if lessVersion(APIVersion, v) {
		return kindError(errdefs.ErrInvalid, "client version %s is too new. Maximum supported API version is %s", v, APIVersion)
	}
	return nil
}

// lessVersion compares two MAJOR.MINOR versions numerically.
func lessVersion(a, b string) bool {
	pa, pb := versionParts(a), versionParts(b)
	if pa[0] != pb[0] {
		return pa[0] < pb[0]
	}
	return pa[1] < pb[1]
}

func versionParts(v string) [2]int {
	major, minor, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(major)
	b, _ := strconv.Atoi(minor)
	return [2]int{a, b}
}

// kindErr is an error whose message is Docker's words alone, of the
// errdefs category kind.
type kindErr struct {
	msg  string
	kind error
}

func (e kindErr) Error() string { return e.msg }
func (e kindErr) Unwrap() error { return e.kind }

// kindError formats a message of the errdefs category kind.
func kindError(kind error, format string, args ...any) error {
	return kindErr{msg: fmt.Sprintf(format, args...), kind: kind}
}

// badParam is a malformed request value (400).
func badParam(format string, args ...any) error {
	return kindError(errdefs.ErrInvalid, format, args...)
}

// isNotFound says err is a not-found one.
func isNotFound(err error) bool { return errors.Is(err, errdefs.ErrNotFound) }
