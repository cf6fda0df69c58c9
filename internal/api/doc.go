// Package api is the contract between the banger CLI and the daemon: the
// request and response types, and the HTTP+JSON client and server plumbing
// that carries them over the daemon's unix socket.
//
// Plain calls answer one JSON document. Long work (pulls, imports, boots)
// answers a stream of newline-delimited JSON Events — progress first, then
// exactly one result or error — so the CLI can draw progress and a dropped
// connection cancels the work. Errors carry a kind (see errdefs) that the
// client turns back into the same sentinel error, so callers branch with
// errors.Is across the socket.
package api
