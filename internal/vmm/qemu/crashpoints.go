package qemu

import "github.com/bangerdev/banger/internal/crashpoint"

// Start's crash points (package crashpoint): a daemon killed after QEMU
// was spawned but before its pid is recorded leaves a process only its
// BANGER_VM environment names; one killed after, a recorded process that
// may not answer yet.
var (
	cpSpawned  = crashpoint.New("qemu/spawned", crashpoint.Run)
	cpRecorded = crashpoint.New("qemu/recorded", crashpoint.Run)
)
