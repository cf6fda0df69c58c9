// Package restart is docker's restart policies as pure functions: the
// policy a VM is created with (`--restart no|on-failure[:MAX]|always|
// unless-stopped`), whether the daemon restarts a VM whose main process
// ended, and after what back-off.
//
// The rules are docker's:
//   - no: never.
//   - always: after every exit; a VM the user stopped (stop, kill, rm)
//     stays stopped while the daemon runs, and is started again when the
//     daemon starts.
//   - unless-stopped: as always, except that a VM the user stopped is not
//     started when the daemon starts either.
//   - on-failure[:MAX]: after a non-zero exit, at most MAX times (no MAX:
//     no limit), never after the user stopped it.
//
// The back-off before a restart starts at 100 ms and doubles with each
// restart, up to a minute; a run of 10 s or more resets it. The VM service
// (package vms) does the restarting; this package only decides.
package restart

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is a policy's name.
type Mode string

// The policies, as docker names them.
const (
	No            Mode = "no"
	Always        Mode = "always"
	UnlessStopped Mode = "unless-stopped"
	OnFailure     Mode = "on-failure"
)

// Policy is a VM's restart policy. The zero value is No.
type Policy struct {
	Mode Mode `json:"mode,omitempty"`
	// MaxRetries bounds on-failure's restarts; 0 means no bound.
	MaxRetries int `json:"max_retries,omitempty"`
}

// ErrInvalid is a policy that does not parse.
var ErrInvalid = errors.New("invalid restart policy")

// Parse reads `no`, `always`, `unless-stopped`, `on-failure` or
// `on-failure:MAX`; "" is no.
func Parse(s string) (Policy, error) {
	name, max, hasMax := strings.Cut(s, ":")
	p := Policy{Mode: Mode(name)}
	switch p.Mode {
	case "", No:
		p.Mode = No
	case Always, UnlessStopped:
	case OnFailure:
		if !hasMax {
			return p, nil
		}
		n, err := strconv.Atoi(max)
		if err != nil || n < 0 {
			return Policy{}, fmt.Errorf("%w %q: the maximum retry count of on-failure:MAX is a whole number >= 0", ErrInvalid, s)
		}
		p.MaxRetries = n
		return p, nil
	default:
		return Policy{}, fmt.Errorf("%w %q: want no, always, unless-stopped, on-failure or on-failure:MAX", ErrInvalid, s)
	}
	if hasMax {
		return Policy{}, fmt.Errorf("%w %q: only on-failure takes a maximum retry count", ErrInvalid, s)
	}
	return p, nil
}

// Validate checks a policy that did not come from Parse (an API client's).
func (p Policy) Validate() error {
	switch {
	case p.MaxRetries < 0:
		return fmt.Errorf("%w: maximum retry count %d is negative", ErrInvalid, p.MaxRetries)
	case p.MaxRetries > 0 && p.Mode != OnFailure:
		return fmt.Errorf("%w %q: only on-failure takes a maximum retry count", ErrInvalid, p.Mode)
	}
	switch p.Mode {
	case "", No, Always, UnlessStopped, OnFailure:
		return nil
	}
	return fmt.Errorf("%w %q: want no, always, unless-stopped or on-failure", ErrInvalid, p.Mode)
}

// String is the policy as --restart takes it.
func (p Policy) String() string {
	switch {
	case p.Mode == "":
		return string(No)
	case p.Mode == OnFailure && p.MaxRetries > 0:
		return fmt.Sprintf("%s:%d", p.Mode, p.MaxRetries)
	}
	return string(p.Mode)
}

// IsNone reports whether the policy never restarts.
func (p Policy) IsNone() bool { return p.Mode == "" || p.Mode == No }

// Exit is how a VM's run ended, and what the policy needs besides.
type Exit struct {
	// Failed is a non-zero exit code, a signal, or a VM that died
	// (a guest panic, a crashed VMM).
	Failed bool
	// Canceled is a stop, a kill or a removal while this daemon runs: the
	// policy never undoes it.
	Canceled bool
	// ManuallyStopped is the user's last stop or kill (persisted until the
	// next manual start); only always starts such a VM, at daemon start.
	ManuallyStopped bool
	// Count is how many times the policy restarted the VM since its last
	// manual start.
	Count int
}

// ShouldRestart reports whether the policy restarts a VM after e.
func ShouldRestart(p Policy, e Exit) bool {
	if e.Canceled {
		return false
	}
	switch p.Mode {
	case Always:
		return true
	case UnlessStopped:
		return !e.ManuallyStopped
	case OnFailure:
		return e.Failed && !e.ManuallyStopped && (p.MaxRetries == 0 || e.Count < p.MaxRetries)
	}
	return false
}

// The back-off's bounds, docker's.
const (
	FirstDelay = 100 * time.Millisecond
	MaxDelay   = time.Minute
	// ResetAfter is the run time after which the back-off starts over.
	ResetAfter = 10 * time.Second
)

// NextDelay is the back-off before the next restart, given the previous
// one (0 for none) and how long the run that ended lasted.
func NextDelay(prev, ran time.Duration) time.Duration {
	if prev <= 0 || ran >= ResetAfter {
		return FirstDelay
	}
	return min(prev*2, MaxDelay)
}
