package blobcache

import "github.com/bangerdev/banger/internal/crashpoint"

// cpIngested is where a process dies with a whole, verified blob in the
// ingest directory and not yet under its digest's name (package
// crashpoint); Sweep removes such files.
var cpIngested = crashpoint.New("blobcache/blob/ingested", crashpoint.ImagePull)
