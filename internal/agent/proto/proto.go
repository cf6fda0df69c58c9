// Package proto is the agent's protocol on top of SSH, shared by the guest
// (banger-agent's SSH server) and the host (agentclient). Everything OpenSSH
// clients know works unchanged: session channels with exec, shell, pty-req,
// window-change, signal, env and the "sftp" subsystem, and direct-tcpip /
// direct-streamlocal@openssh.com forwarding. banger adds a few requests
// under its own domain, as RFC 4250 §4.6.1 allows:
//
//   - RequestExec (session channel): run an argv exactly, with no shell, so
//     images without /bin/sh work; payload ExecPayload. Output, exit-status
//     and exit-signal are those of a standard exec.
//   - ChannelExec (channel type): a session channel whose open carries
//     the RequestExec (ExecPayload as the open's extra data), started as
//     the agent accepts it: one round trip to the guest instead of two
//     (open, then exec). Then as RequestExec: output, signal, exit-status.
//     A bad payload is rejected (Prohibited); an agent older than it
//     rejects the type (UnknownChannelType), and the host falls back to
//     a session and RequestExec.
//   - RequestAttach (session channel): attach to the main process: its
//     buffered and live stdout/stderr, its stdin (when the boot config
//     opened it), window-change and signal go to it, and the channel ends
//     with its exit-status. One host at a time.
//   - RequestShutdown (global): stop the main process (its stop signal,
//     a grace period, SIGKILL), stop every other process, sync and power
//     off; payload ShutdownPayload.
//   - RequestSignal (global): send a signal to the main process (the VM
//     then ends when it does); payload SignalPayload.
//   - RequestSync (global): flush the guest's file systems to its disks,
//     replying once they are (a copy into the VM is durable then).
//   - RequestInfo (global): reply with InfoPayload.
//   - RequestMemory (global): reply with MemoryPayload, the guest's
//     /proc/meminfo (banger stats).
//   - RequestProcesses (global): reply with ProcessesPayload, the guest's
//     processes read from its /proc (banger top), so images without ps
//     are listed too.
//   - RequestContainer (global): make the root of a container of a pod
//     VM (ContainerPayload: an overlay over the image's tree the host
//     shares, see package ctrroot), or with Remove unmount and remove it;
//     replies once done, or false with the error text. An exec whose
//     ExecPayload names the container runs chrooted in that root.
//   - RequestKeepalive (global, OpenSSH's name): replies true; a ping.
//   - RequestApply (global): only to an agent in a held boot
//     (bootcfg.Config.Hold), once: set the clock, reseed the entropy
//     pool, make the root writable and apply the VM's own config
//     (ApplyPayload) — NIC MAC, network, hostname, resolv.conf, growing
//     the root, tmpfs, mounts, its SSH host key for new connections —
//     then start the main process; replies once that is done, or false
//     with the error text.
//   - RequestReidentify (global): to a running agent (booted from its own
//     config, or held and applied) that was restored from a checkpoint
//     of another VM — a fork: set the clock, reseed the entropy pool,
//     and make the guest the config's VM (ApplyPayload) — its NIC's MAC,
//     the source's addresses and routes replaced by its own, resolv.conf,
//     hostname, its SSH host key and authorized keys for new
//     connections. The running processes, the main one included, go on;
//     mounts, tmpfs and the root's size are left as they are. Refused to
//     a held agent never applied. Replies once done, or false with the
//     error text.
//
// An agent older than a request replies false with no payload; the host
// says the image's agent is too old.
//
// Payloads are one SSH string holding JSON, so fields can be added without
// a version bump. The console line MainExitLine is the fallback when the
// channel is gone: the host reads it from the serial console log.
package proto

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// ChannelExec is the channel type of an exec carried by the channel's
// open (see the package comment).
const ChannelExec = "banger-exec-channel@banger.dev"

// Request names.
const (
	RequestExec       = "banger-exec@banger.dev"
	RequestAttach     = "banger-attach@banger.dev"
	RequestShutdown   = "banger-shutdown@banger.dev"
	RequestSignal     = "banger-signal@banger.dev"
	RequestSync       = "banger-sync@banger.dev"
	RequestInfo       = "banger-info@banger.dev"
	RequestMemory     = "banger-memory@banger.dev"
	RequestProcesses  = "banger-processes@banger.dev"
	RequestKeepalive  = "keepalive@openssh.com"
	RequestApply      = "banger-apply@banger.dev"
	RequestReidentify = "banger-reidentify@banger.dev"
	RequestContainer  = "banger-container@banger.dev"
)

// ContainerPayload is RequestContainer's payload.
type ContainerPayload struct {
	// ID names the container (letters, digits, '_', '.', '-').
	ID string `json:"id"`
	// Lower is the guest path of the image's tree (read-only; a
	// directory of a shared host directory); not needed to remove.
	Lower string `json:"lower,omitempty"`
	// Remove unmounts and removes the container's root; an absent one
	// is not an error.
	Remove bool `json:"remove,omitempty"`
}

// ApplyPayload is RequestApply's and RequestReidentify's payload.
type ApplyPayload struct {
	// Config is the VM's own boot config (a bootcfg.Config, not held),
	// its EntropySeed fresh for this VM.
	Config json.RawMessage `json:"config"`
	// NowUnixNano is the host's realtime clock when it sent the request.
	NowUnixNano int64 `json:"now_unix_nano"`
}

// ExecPayload is RequestExec's payload. Empty fields default to the main
// process's (docker exec semantics): its env, working dir and user.
type ExecPayload struct {
	Argv []string `json:"argv"`
	// Env entries (KEY=value) override or extend the default environment.
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	// Container, when set, runs the process chrooted in that container's
	// root (made by RequestContainer), its user and PATH resolved there.
	// The defaults are then not the main process's: the host gives the
	// container's own env, working dir and user.
	Container string `json:"container,omitempty"`
}

// ShutdownPayload is RequestShutdown's payload.
type ShutdownPayload struct {
	// Signal is the main process's stop signal ("TERM", "QUIT", "SIGINT",
	// a number); empty means TERM.
	Signal string `json:"signal,omitempty"`
	// GraceMS overrides the boot config's stop grace period (between the
	// stop signal and SIGKILL) when > 0.
	GraceMS int `json:"grace_ms,omitempty"`
	// Now sends SIGKILL right after the stop signal (a grace of zero).
	Now bool `json:"now,omitempty"`
	// Reboot asks for a reboot instead of a power off.
	Reboot bool `json:"reboot,omitempty"`
}

// SignalPayload is RequestSignal's payload.
type SignalPayload struct {
	// Signal is a name ("KILL", "SIGHUP") or a number; empty means KILL.
	Signal string `json:"signal,omitempty"`
}

// Main process states in InfoPayload.
const (
	MainNone    = "none"
	MainRunning = "running"
	MainExited  = "exited"
)

// InfoPayload is RequestInfo's reply.
type InfoPayload struct {
	Version  string `json:"version"`
	VMID     string `json:"vm_id,omitempty"`
	PID1     bool   `json:"pid1"`
	Main     string `json:"main"`
	ExitCode int    `json:"exit_code,omitempty"`
	// Held is a held boot (bootcfg.Config.Hold) whose config has not been
	// applied (RequestApply): no main process yet, the root read-only.
	Held bool `json:"held,omitempty"`
}

// MemoryPayload is RequestMemory's reply: the guest's memory, from its
// /proc/meminfo.
type MemoryPayload struct {
	TotalBytes     uint64 `json:"total_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
}

// ProcessesPayload is RequestProcesses' reply.
type ProcessesPayload struct {
	Processes []Process `json:"processes"`
}

// Process is one guest process, from /proc/PID/{stat,status,cmdline}.
type Process struct {
	PID  int    `json:"pid"`
	PPID int    `json:"ppid"`
	UID  int    `json:"uid"`
	User string `json:"user,omitempty"`
	// State is stat's one-letter state (R, S, D, Z, ...).
	State    string `json:"state"`
	RSSBytes uint64 `json:"rss_bytes"`
	// CPUTicks is user+system CPU time in clock ticks (100 a second).
	CPUTicks uint64 `json:"cpu_ticks"`
	Threads  int    `json:"threads"`
	// Command is the argv, or the [comm] of a kernel thread.
	Command string `json:"command"`
}

type wireString struct{ S string }

// Marshal encodes v as one SSH string of JSON.
func Marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("proto: %T does not marshal: %v", v, err)) // our own types always do
	}
	return ssh.Marshal(wireString{string(b)})
}

// Unmarshal decodes a payload made by Marshal into v.
func Unmarshal(payload []byte, v any) error {
	var w wireString
	if err := ssh.Unmarshal(payload, &w); err != nil {
		return fmt.Errorf("proto: payload: %w", err)
	}
	if err := json.Unmarshal([]byte(w.S), v); err != nil {
		return fmt.Errorf("proto: payload json: %w", err)
	}
	return nil
}

// ExitStatus is the RFC 4254 "exit-status" payload.
type ExitStatus struct{ Status uint32 }

// ExitSignal is the RFC 4254 "exit-signal" payload.
type ExitSignal struct {
	Signal     string
	CoreDumped bool
	Error      string
	Lang       string
}

// SignalMsg is the RFC 4254 "signal" payload.
type SignalMsg struct{ Signal string }

// WindowChange is the RFC 4254 "window-change" payload.
type WindowChange struct {
	Cols, Rows, Width, Height uint32
}

// PtyRequest is the RFC 4254 "pty-req" payload.
type PtyRequest struct {
	Term                      string
	Cols, Rows, Width, Height uint32
	Modes                     string
}

// ChannelOpenDirect is the RFC 4254 "direct-tcpip" open payload.
type ChannelOpenDirect struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// ChannelOpenStreamLocal is OpenSSH's "direct-streamlocal@openssh.com"
// open payload.
type ChannelOpenStreamLocal struct {
	Path      string
	Reserved0 string
	Reserved1 uint32
}

// mainExitPrefix starts the console line the agent prints when the main
// process ends.
const mainExitPrefix = "banger-agent: main exited status="

// Exit is how the main process ended.
type Exit struct {
	// Status is the exit code, or 128+N for signal N (a shell's $?).
	Status int `json:"status"`
	// Signal names the signal that ended it ("KILL"), if one did.
	Signal string `json:"signal,omitempty"`
	// OOM says the guest kernel's OOM killer ended it.
	OOM bool `json:"oom,omitempty"`
}

// MainExitLine is the console line for a main process that ended with
// status (an exit code, or 128+signal).
func MainExitLine(status int) string {
	return mainExitPrefix + strconv.Itoa(status)
}

// Line is the console line for e: MainExitLine, then " signal=NAME" and
// " oom" when they apply.
func (e Exit) Line() string {
	l := MainExitLine(e.Status)
	if e.Signal != "" {
		l += " signal=" + e.Signal
	}
	if e.OOM {
		l += " oom"
	}
	return l
}

// ParseMainExitLine finds the main process's status in one console line
// (which may carry a kernel timestamp or a stray carriage return before or
// after). ok is false for any other line.
func ParseMainExitLine(line string) (status int, ok bool) {
	e, ok := ParseExitLine(line)
	return e.Status, ok
}

// ParseExitLine is ParseMainExitLine with the signal and OOM flag.
func ParseExitLine(line string) (Exit, bool) {
	i := strings.Index(line, mainExitPrefix)
	if i < 0 {
		return Exit{}, false
	}
	rest := line[i+len(mainExitPrefix):]
	end := 0
	for end < len(rest) && end < 4 && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	if end == 0 || (end < len(rest) && rest[end] >= '0' && rest[end] <= '9') {
		return Exit{}, false
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil || n > 255 {
		return Exit{}, false
	}
	e := Exit{Status: n}
	for _, f := range strings.Fields(strings.TrimRight(rest[end:], "\r\n ")) {
		switch {
		case f == "oom":
			e.OOM = true
		case strings.HasPrefix(f, "signal=") && len(f) > len("signal=") && len(f) <= len("signal=")+8 && isUpperAlnum(f[len("signal="):]):
			e.Signal = f[len("signal="):]
		default:
			return Exit{}, false
		}
	}
	return e, true
}

func isUpperAlnum(s string) bool {
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// ParseSignal reads a signal as docker's --signal and STOPSIGNAL take it:
// a name with or without "SIG" in any case ("TERM", "sigkill") or a
// number. Empty is def.
func ParseSignal(s string, def syscall.Signal) (syscall.Signal, error) {
	if s == "" {
		return def, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal %q: want 1..64 or a name such as TERM", s)
		}
		return syscall.Signal(n), nil
	}
	if n, ok := SignalNumber(strings.TrimPrefix(strings.ToUpper(s), "SIG")); ok {
		return syscall.Signal(n), nil
	}
	return 0, fmt.Errorf("signal %q: not a signal name (try TERM, KILL, HUP, INT, QUIT, USR1) or number", s)
}

// SignalText is sig's name ("KILL"), or its number for one without a
// name (a real-time signal): what a signal request carries.
func SignalText(sig syscall.Signal) string {
	if n := SignalName(int(sig)); n != "" {
		return n
	}
	return strconv.Itoa(int(sig))
}
