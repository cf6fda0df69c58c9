package vms

import (
	"strconv"
	"time"

	"github.com/bangerdev/banger/internal/events"
)

// The service reports each change of a VM to Deps.Events once the VM's
// record says so (package events numbers, keeps and fans them out):
//
//	create   Create, CreateFrom: the record exists
//	start    a start (the user's, the restart policy's): running recorded
//	error    a start that failed: the error state recorded
//	exit     the exit watcher, and reconcile for an exit while no daemon
//	         ran: the run's end recorded, with exit_code, signal, oom
//	stop     Stop, Restart: the user's stop done (after its exit)
//	kill     Kill: the signal about to be sent (before the exit it causes,
//	         as docker's kill)
//	pause, unpause, rename, restart (Restart done), remove (record deleted)
//
// and a checkpoint's create and remove (rm, or found damaged when a fork
// starts).

// emit reports action on vm, with its labels and image and attrs (pairs
// of key and value) as attributes.
func (s *Service) emit(action events.Action, vm VM, attrs ...string) {
	e := events.Event{Type: events.TypeVM, Action: action, ID: vm.ID, Name: vm.Name, Attributes: map[string]string{}}
	for k, v := range vm.Spec.Labels {
		e.Attributes[k] = v
	}
	e.Attributes[events.AttrImage] = vm.Spec.Image
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] != "" {
			e.Attributes[attrs[i]] = attrs[i+1]
		}
	}
	s.Events.Publish(e)
}

// emitExit reports the end of vm's run as its record has it.
func (s *Service) emitExit(vm VM) {
	code, at := "", ""
	if vm.ExitCode != nil {
		code = strconv.Itoa(*vm.ExitCode)
	}
	if !vm.Stopped.IsZero() {
		at = vm.Stopped.UTC().Format(time.RFC3339Nano)
	}
	s.emit(events.Exit, vm,
		events.AttrExitedAt, at,
		events.AttrExitCode, code,
		events.AttrSignal, vm.ExitSignal,
		events.AttrOOM, strconv.FormatBool(vm.OOMKilled),
		events.AttrReason, vm.ExitReason,
		events.AttrError, vm.Error,
		events.AttrState, string(vm.State))
}

// emitCheckpoint reports a checkpoint's action, with why when reason is
// set.
func (s *Service) emitCheckpoint(action events.Action, ck Checkpoint, reason string) {
	attrs := map[string]string{events.AttrVM: ck.Origin.VM}
	if ck.VMName != "" {
		attrs[events.AttrVMName] = ck.VMName
	}
	if reason != "" {
		attrs[events.AttrReason] = reason
	}
	s.Events.Publish(events.Event{Type: events.TypeCheckpoint, Action: action, ID: ck.ID, Name: ck.Name, Attributes: attrs})
}
