// Package api is the contract between the banger CLI and the daemon: the
// request and response types, and the HTTP+JSON client and server plumbing
// that carries them over the daemon's unix socket.
//
// Every endpoint is declared once, in the table of routes.go: an
// Endpoint[In, Out] names its method, path pattern, kind and types. The
// daemon registers handlers for those values (Router, Handle) and the CLI
// calls them (Do, Stream, Upload, Open, Dial), so neither side writes a
// path and the compiler keeps their types in step.
//
// Plain calls answer one JSON document. Long work (pulls, imports, boots)
// answers a stream of newline-delimited JSON Events — progress first, then
// exactly one result or error — so the CLI can draw progress and a dropped
// connection cancels the work. Errors carry a kind (see errdefs) that the
// client turns back into the same sentinel error, so callers branch with
// errors.Is across the socket.
//
// GetVersion answers the daemon's APIVersion and MinAPIVersion, and every
// answer carries HeaderAPIVersion; pkg/client checks them before its
// first call. Most programs use pkg/client, whose methods wrap these
// helpers.
package api
