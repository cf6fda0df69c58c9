// Package crash holds banger's crash-safety tests: real `banger daemon`
// processes, each on its own --root, killed by SIGKILL at every crash
// point the program declares (package crashpoint) or at random moments,
// restarted, and checked against the host — taps, nft rules, loop
// devices, VMM processes, files and leases — through the daemon's own
// inventory and directly. They boot real QEMU guests and skip (or, with
// BANGER_TEST_STRICT=1, fail) without root, QEMU or the kernel package.
//
// TestCrashMatrix runs every crash point once; TestSoak runs random
// create/start/exec/stop/rm loops with the daemon killed at random
// moments (BANGER_SOAK_LOOPS loops; `make soak` runs 200).
package crash
