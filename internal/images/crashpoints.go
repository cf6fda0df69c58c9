package images

import "github.com/bangerdev/banger/internal/crashpoint"

// The catalog's crash points (package crashpoint), in the order a build
// passes them: a daemon killed at any of them leaves a scratch directory
// or an image directory no record names, which Reconcile removes.
var (
	cpScratchMade = crashpoint.New("images/scratch/made", crashpoint.ImageImport)
	cpConverted   = crashpoint.New("images/converted", crashpoint.ImageImport)
	cpRenamed     = crashpoint.New("images/renamed", crashpoint.ImageImport)
	cpRecorded    = crashpoint.New("images/recorded", crashpoint.ImageImport)
)
