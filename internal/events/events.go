// Package events is the daemon's event journal: what changed, in order.
//
// The services (internal/vms, images, kernels, volumes) are handed a
// Publisher and call it once a change is recorded — a VM created, started,
// exited, removed; an image pulled; a volume removed — and the Journal
// gives each event the next sequence number, writes it to the database
// (the store's events bucket, the last Options.Retain of them), and hands
// it to every subscriber. Sequence numbers strictly increase and are never
// reused, across daemon restarts too, so a client that lost its stream
// resumes with the last number it saw (Stream, Query.Since) and gets every
// event after it that is still kept, then the live ones, none twice and
// none missing; what is no longer kept is announced (a Lost line), never
// skipped in silence. A subscriber that does not keep up is cut off
// (ErrFellBehind) instead of slowing the daemon down.
//
// docs/architecture.md ("The event journal") has the picture.
package events

import (
	"maps"
	"time"
)

// Type is what an event is about.
type Type string

// The types of event.
const (
	TypeVM         Type = "vm"
	TypeImage      Type = "image"
	TypeKernel     Type = "kernel"
	TypeVolume     Type = "volume"
	TypeNetwork    Type = "network"
	TypeCheckpoint Type = "checkpoint"
	TypeSnapshot   Type = "snapshot"
	TypeDaemon     Type = "daemon"
)

// Types lists every type, for validation and help.
var Types = []Type{TypeVM, TypeImage, TypeKernel, TypeVolume, TypeNetwork, TypeCheckpoint, TypeSnapshot, TypeDaemon}

// Action is what happened.
type Action string

// The actions, docker's names where docker has one.
const (
	// A VM's: Create is recorded; Start runs (its agent answered); Exit
	// is its run's end, however it came (the main process, a stop, a
	// kill, a crash), with the exit's attributes; Stop and Kill are the
	// user's requests, after they took effect; Error is a start that
	// failed; Restart is `banger restart` done.
	Create  Action = "create"
	Start   Action = "start"
	Exit    Action = "exit"
	Stop    Action = "stop"
	Kill    Action = "kill"
	Pause   Action = "pause"
	Unpause Action = "unpause"
	Rename  Action = "rename"
	Restart Action = "restart"
	Remove  Action = "remove"
	Error   Action = "error"
	// An image's or a kernel's. An image is also recorded by Load (from
	// an archive), Build, Commit and Tag (a second name); Push sends one
	// to a registry.
	Pull   Action = "pull"
	Import Action = "import"
	Load   Action = "load"
	Build  Action = "build"
	Commit Action = "commit"
	Tag    Action = "tag"
	Push   Action = "push"
	// The daemon's: Ready is when it serves its socket.
	Ready Action = "ready"
)

// Actions lists every action, for validation and help.
var Actions = []Action{Create, Start, Exit, Stop, Kill, Pause, Unpause, Rename, Restart, Remove, Error, Pull, Import, Load, Build, Commit, Tag, Push, Ready}

// The attributes the services set (besides a VM's labels, which are
// attributes of their own name, as in docker's events).
const (
	AttrImage    = "image"
	AttrExitCode = "exit_code"
	AttrExitedAt = "exited_at"
	AttrSignal   = "signal"
	AttrOOM      = "oom"
	AttrReason   = "reason"
	AttrError    = "error"
	AttrOldName  = "old_name"
	AttrVM       = "vm"
	AttrVersion  = "version"
	AttrPID      = "pid"
	// A VM's state after an exit; the restarts its policy made before a
	// start; the stage a failed start failed in.
	AttrState    = "state"
	AttrRestarts = "restarts"
	AttrPhase    = "phase"
	// A checkpoint's source VM's name; a snapshot's kernel.
	AttrVMName = "vm_name"
	AttrKernel = "kernel"
)

// Event is one change. Seq and Time are the journal's to set.
type Event struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Type   Type      `json:"type"`
	Action Action    `json:"action"`
	// ID and Name are the object's (a VM's id and name, an image's id
	// and reference, a volume's name twice).
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// Attributes are the details: a VM's labels and image, an exit's
	// code, signal and OOM kill, ...
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Clone returns e with its own attributes.
func (e Event) Clone() Event {
	e.Attributes = maps.Clone(e.Attributes)
	return e
}

// Publisher is how a service reports a change, once it is recorded. It
// never blocks on a subscriber and never fails the caller: the journal
// logs what it cannot write.
type Publisher interface {
	Publish(Event)
}

// Discard is a Publisher that drops every event (a service built without
// a journal).
var Discard Publisher = discard{}

type discard struct{}

func (discard) Publish(Event) {}

// Or returns p, or Discard when p is nil.
func Or(p Publisher) Publisher {
	if p == nil {
		return Discard
	}
	return p
}
