// Package dockerapi serves the Docker Engine API as a thin adapter over
// banger's services: each request is converted from Docker's wire types
// (github.com/moby/moby/api, the Engine API's own module) to a call of the
// VM, image, volume or network service the banger API uses, and the
// answer back. Nothing about VMs is decided here: a container is a
// banger VM, created, started, stopped and removed by the same service
// methods `banger run` reaches; this package only maps names, ids,
// options and errors.
//
// Versions: it serves Engine API MinAPIVersion (1.41, Debian's docker
// CLI) to APIVersion (1.57, the wire types' own). A path may carry a
// /v1.NN prefix; a version outside that range is refused with Docker's
// message, and every answer carries the API-Version header, as
// /_ping and /version say.
//
// Errors are Docker's JSON body {"message": ...}, the status mapped from
// banger's errdefs sentinels (errors.go): 404 not found, 409 conflict or
// name in use, 400 invalid argument, 500 otherwise. An option a VM cannot
// honour (--privileged, --network host, ...) is refused naming the
// option and why (refuse); none is silently ignored when it changes what
// the container does.
//
// Container ids: a banger VM id is 12 hex digits, Docker's are 64. The
// id shown is the VM id followed by 52 digits derived from it (ids.go),
// so the short id docker prints is the VM id, and any prefix of the
// long one finds the VM as Docker's prefix lookup does.
//
// Routes are registered per area, one file each, so areas grow apart:
//
//	system.go      /_ping, /version, /info, /system/df (df.go)
//	containers.go  create, start, stop, kill, wait, remove, list, inspect
//	attach.go      attach (hijacked), logs
//	images.go      images: pull, list, inspect, history, tag, remove, push,
//	               save, load, prune (imagemap.go, imagestream.go)
//	build.go       /build, through banger's image builder
//	exec.go        exec (execstream.go: its hijacked streams); it also
//	               registers archive.go and extract.go (docker cp) and
//	               containerops.go (pause, unpause, rename, resize,
//	               top; stats.go); their services are Ops (ops.go)
//	volumes.go     volumes
//	events.go      the event stream, from the event journal
//	networks.go    networks, over banger's user-defined networks (netmap.go:
//	               Docker's shape and refusals; netconnect.go: connect,
//	               disconnect)
package dockerapi
