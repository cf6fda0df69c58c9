// Package firecracker is banger's production VMM backend: it runs each
// guest in a Firecracker process configured over Firecracker's REST API on
// a unix socket, optionally under Firecracker's jailer, and reaches the
// guest agent over hybrid vsock.
//
// Everything the backend does is built as values first — the list of API
// calls that configures a VM (bootCalls), the jailer's argv and the files it
// links into the jail (JailPlan) — and executed at a thin edge. The API
// client speaks the v1.16.1 contract (specs/firecracker-api-v1.16.1.yaml);
// the request types here are written by hand from that spec's definitions,
// and the tests check every request against the spec parsed at test time
// (package fctest), so the two cannot drift apart unnoticed.
//
// These build machines have neither a Firecracker binary nor a KVM that
// runs standard guests; the tests run the backend's whole lifecycle —
// exec, socket wait, configuration, boot, pause, snapshot, Ctrl-Alt-Del,
// kill, adoption after a daemon restart, cleanup — against fctest's fake
// firecracker and jailer executables. On a KVM host the same code drives
// the real VMM.
package firecracker
