package sshd

import (
	"strconv"
	"syscall"

	"github.com/bangerdev/banger/internal/agent/proto"
)

// signalByName maps an RFC 4254 §6.10 signal name ("TERM") to the Linux
// signal.
func signalByName(name string) (syscall.Signal, bool) {
	n, ok := proto.SignalNumber(name)
	return syscall.Signal(n), ok
}

// signalName is the RFC 4254 name of sig; a signal without one (a
// real-time signal) travels as its number, which a host reads as such.
func signalName(sig syscall.Signal) string {
	if n := proto.SignalName(int(sig)); n != "" {
		return n
	}
	return strconv.Itoa(int(sig))
}
