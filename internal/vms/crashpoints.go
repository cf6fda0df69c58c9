package vms

import "github.com/bangerdev/banger/internal/crashpoint"

// The service's crash points (package crashpoint): every line after which
// a daemon killed there leaves a host resource half made or half
// released. The crash matrix (internal/e2e/crash) kills a daemon at each
// and checks that a restart releases or adopts everything.
var (
	cpCreateRecorded = crashpoint.New("vms/create/recorded", crashpoint.Create)

	// start: each stage records, then creates, then records what it made.
	cpDiskRecorded = crashpoint.New("vms/disk/recorded", crashpoint.Run)
	cpDiskMade     = crashpoint.New("vms/disk/made", crashpoint.Run)
	cpNetRecorded  = crashpoint.New("vms/network/recorded", crashpoint.Run)
	cpNetAttached  = crashpoint.New("vms/network/attached", crashpoint.Run)
	// the network stage of a VM in a network namespace (stage_netns.go).
	cpNetnsRecorded  = crashpoint.New("vms/netns/recorded", crashpoint.RunNetns)
	cpNetnsAttached  = crashpoint.New("vms/netns/attached", crashpoint.RunNetns)
	cpNetnsDetached  = crashpoint.New("vms/netns/detached", crashpoint.RemoveNetns)
	cpRunDirRecorded = crashpoint.New("vms/rundir/recorded", crashpoint.Run)
	cpRunDirMade     = crashpoint.New("vms/rundir/made", crashpoint.Run)
	cpBootWritten    = crashpoint.New("vms/bootcfg/written", crashpoint.Run)
	cpVMMRecorded    = crashpoint.New("vms/vmm/recorded", crashpoint.Run)
	cpVMMStarted     = crashpoint.New("vms/vmm/started", crashpoint.Run)
	// a held cold boot's save (stage_save.go): recorded, the directory
	// made and the machine paused, the state written, committed.
	cpSaveRecorded  = crashpoint.New("vms/save/recorded", crashpoint.Run)
	cpSavePaused    = crashpoint.New("vms/save/paused", crashpoint.Run)
	cpSaveWritten   = crashpoint.New("vms/save/written", crashpoint.Run)
	cpSaveCommitted = crashpoint.New("vms/save/committed", crashpoint.Run)
	// a checkpoint of a running VM (checkpoint.go): recorded, paused,
	// saved and cloned (resumed next), committed; a fork's restore.
	cpCheckpointRecorded  = crashpoint.New("vms/checkpoint/recorded", crashpoint.Checkpoint)
	cpCheckpointPaused    = crashpoint.New("vms/checkpoint/paused", crashpoint.Checkpoint)
	cpCheckpointWritten   = crashpoint.New("vms/checkpoint/written", crashpoint.Checkpoint)
	cpCheckpointCommitted = crashpoint.New("vms/checkpoint/committed", crashpoint.Checkpoint)
	cpForkRestored        = crashpoint.New("vms/fork/restored", crashpoint.Fork)
	cpStartAcquired       = crashpoint.New("vms/start/acquired", crashpoint.Run)
	cpStartRecorded       = crashpoint.New("vms/start/recorded", crashpoint.Run)

	// stop: the watcher releases the runtime stages backwards.
	cpStopBegun      = crashpoint.New("vms/stop/begun", crashpoint.Stop)
	cpWatchExited    = crashpoint.New("vms/watch/exited", crashpoint.Stop)
	cpVMMReleased    = crashpoint.New("vms/vmm/released", crashpoint.Stop)
	cpRunDirRemoved  = crashpoint.New("vms/rundir/removed", crashpoint.Stop)
	cpNetDetached    = crashpoint.New("vms/network/detached", crashpoint.Stop)
	cpWatchReleased  = crashpoint.New("vms/watch/released", crashpoint.Stop)
	cpWatchRecorded  = crashpoint.New("vms/watch/recorded", crashpoint.RunRm)
	cpRemoveReleased = crashpoint.New("vms/rm/released", crashpoint.Remove)
	cpDiskRemoved    = crashpoint.New("vms/disk/removed", crashpoint.Remove)
	cpLeaseReleased  = crashpoint.New("vms/network/lease-released", crashpoint.Remove)
	cpRemoveFiles    = crashpoint.New("vms/rm/files-removed", crashpoint.Remove)

	// reconcile: a daemon start releasing a VM whose VMM died.
	cpReconcileReleasing = crashpoint.New("vms/reconcile/releasing", crashpoint.Reconcile)
	cpReconcileReleased  = crashpoint.New("vms/reconcile/released", crashpoint.Reconcile)
)
