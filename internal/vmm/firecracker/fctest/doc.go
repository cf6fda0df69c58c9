// Package fctest is a contract-faithful stand-in for Firecracker, for the
// tests of banger's Firecracker backend on hosts that cannot run the real
// VMM (no Firecracker binary, no usable KVM).
//
// It has three parts:
//
//   - Contract parses Firecracker's released swagger file
//     (specs/firecracker-api-v1.16.1.yaml) at test time and validates every
//     request's method, path and body against it. Nothing of the schema is
//     copied into Go, so a request banger sends that the spec does not allow
//     fails here, and a new spec fails the tests that drifted from it.
//   - Server answers on a unix socket as Firecracker documents (204, or 400
//     with {"fault_message": ...}) and enforces the state rules the swagger
//     states in prose: pre-boot-only resources are rejected after
//     InstanceStart, InstanceStart is accepted once, PATCH /vm and snapshot
//     creation need a started (and, for snapshots, paused) microVM, snapshot
//     load needs a fresh process. Files the real VMM opens when a resource is
//     configured (kernel, initrd, drives, log and metrics files) must exist.
//     Its vsock device is a hybrid-vsock muxer like Firecracker's, bridging
//     "CONNECT <port>\n" to guest-side listeners (Guest).
//   - Main and JailerMain make the package a fake `firecracker` and `jailer`
//     executable (cmd/firecracker, cmd/jailer) that accept the real flags,
//     so the backend's exec, wait, kill and cleanup code paths run for real.
//
// The fake does not emulate a guest: there is no kernel, no block I/O, no
// network. Guest services are plain echo listeners on vsock ports.
package fctest
