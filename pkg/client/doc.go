// Package client is the Go client of the banger daemon: what the banger
// CLI does, as a library a program outside this module imports (a
// runtime shim, a scheduler, a test harness).
//
// A Client talks to one daemon over its unix socket. New takes the
// daemon's address ("unix:///run/banger/banger.sock"); FromEnv reads it
// from $BANGER_HOST, as docker reads $DOCKER_HOST, else the system
// daemon's. Before its first call the client asks the daemon's version
// (GET /v1/version) and refuses, with a *VersionError naming both API
// versions and which side to upgrade, a daemon that does not serve the
// API version of this package (api.APIVersion).
//
// There is a method per endpoint of the API (pkg/api's routes table):
// VMs (CreateVM, ListVMs, StartVM, WaitVM, RemoveVM, ...), images,
// kernels, volumes, checkpoints, boot snapshots and the daemon's reports.
// Requests and answers are pkg/api's types. Long work (StartVM, PullImage)
// reports progress to an api.Watch; a zero Watch discards it.
//
// The operations the CLI builds from several calls are here too, so the
// CLI and every other client share one implementation:
//
//   - Run creates a VM, attaches to its main process, starts it and
//     returns the process's exit code, as `banger run` does.
//   - Attach joins a VM's main process: its output so far, then live,
//     stdin and terminal size to it, and its exit code.
//   - Exec runs a command in a running VM over the daemon's SSH front
//     door, with streamed stdin, stdout and stderr, an optional terminal
//     (and resizes), forwarded signals, and returns its exit code;
//     OpenSession keeps one connection for many execs and copies.
//   - CopyIn and CopyOut copy files and trees between host and guest.
//
// Errors the daemon answers satisfy errors.Is with pkg/errdefs' sentinels
// (errdefs.ErrNotFound for a VM that does not exist, errdefs.ErrConflict
// for one in the wrong state), as local ones do.
//
// The API's paths, types and generic helpers are in pkg/api; API returns
// this client's low-level *api.Client for calling them directly.
package client
