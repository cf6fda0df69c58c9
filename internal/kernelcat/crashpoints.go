package kernelcat

import "github.com/bangerdev/banger/internal/crashpoint"

// Import's crash points (package crashpoint): a process killed at them
// leaves a scratch directory, or an entry's directory before its record
// is committed; the kernel catalog's Reconcile removes both.
var (
	cpScratchMade = crashpoint.New("kernelcat/scratch/made", crashpoint.KernelImport)
	cpBuilt       = crashpoint.New("kernelcat/entry/built", crashpoint.KernelImport)
	cpInstalled   = crashpoint.New("kernelcat/entry/installed", crashpoint.KernelImport)
)
