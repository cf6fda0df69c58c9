// Package imagebuild executes a Dockerfile's plan (package dockerfile)
// over a received build context (package buildctx) into an OCI image.
//
// Each stage holds a current image (a go-containerregistry v1.Image) and
// its config. Metadata instructions (ENV, WORKDIR, CMD, ...) change only
// the config and add a history entry marked empty_layer; COPY and ADD
// write a layer straight from the context, no VM; RUN boots a VM from the
// current image, runs the command with the stage's environment, working
// directory and user, and on exit 0 copies the VM's disk and diffs it
// against the image's ext4 into a layer. The VM is removed in every case,
// so a failing RUN leaves no VM, layer or record.
//
// Steps are cached by key = sha256(parent key, the instruction after
// substitution, the digests of its inputs); a stage's first key is its
// base image's digest. A RUN's result is kept as an image under a hidden
// cache name (CacheName), so a rebuild with no change finds every key,
// boots nothing and only records the result under its name.
//
// The host edges — the image catalog, VMs, the ext4 diff — come in as
// the small interfaces below; the daemon wires the real services.
package imagebuild

import (
	"context"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/pkg/progress"
)

// Stored is an image in the catalog as a build needs it.
type Stored struct {
	Name, ID, Digest string
	// Rootfs is its bootable ext4 file.
	Rootfs string
}

// Images is the image catalog.
type Images interface {
	// Base answers the image ref names — local, or pulled when the
	// catalog has none of that name — as an OCI image and its record
	// (which a RUN right after FROM boots).
	Base(ctx context.Context, ref string, sink progress.Sink) (v1.Image, Stored, error)
	// Find answers a recorded image; an errdefs.ErrNotFound error when
	// there is none.
	Find(name string) (Stored, error)
	// OCI answers a recorded image as an OCI image.
	OCI(name string) (v1.Image, error)
	// Store records img under name (Source "build"), bootable.
	Store(ctx context.Context, name string, img v1.Image, sink progress.Sink) (Stored, error)
}

// RunSpec is what a RUN step runs: Argv in a VM booted from Image.
type RunSpec struct {
	Image      string
	Argv       []string
	Env        []string
	WorkingDir string
	User       string
}

// VMs runs RUN steps.
type VMs interface {
	// Create makes a VM for spec without starting it.
	Create(ctx context.Context, spec RunSpec) (id string, err error)
	// Run starts the VM, writes its output to out as it comes, and
	// answers the command's exit code once it has ended.
	Run(ctx context.Context, id string, out io.Writer) (exitCode int, err error)
	// DiskCopy writes a raw ext4 copy of the stopped VM's disk to dst.
	DiskCopy(ctx context.Context, id, dst string) error
	// Remove deletes the VM and everything it holds.
	Remove(ctx context.Context, id string) error
}

// Differ writes the OCI layer tar (uncompressed) of what changed from
// the ext4 file lower to the ext4 file upper.
type Differ func(ctx context.Context, lower, upper string, w io.Writer) error

// Options are one build's.
type Options struct {
	// Tag is the NAME[:TAG] the result is recorded under.
	Tag       string
	BuildArgs map[string]string
	Target    string
	NoCache   bool
	// Platform is the host's ("linux/amd64").
	Platform string
	// ScratchDir is an existing empty directory for the build's files
	// (context extracts, disk copies, layers); the caller removes it.
	ScratchDir string
	// MaxFilesBytes bounds the files the build reads besides its context:
	// a COPY --from image's and an ADD archive's (image.max_layer_bytes).
	MaxFilesBytes int64
	// CacheDir keeps COPY and ADD layers by their cache key; "" keeps
	// none (they are written again, and never said CACHED).
	CacheDir string
}

// Result is a finished build.
type Result struct {
	Name   string
	ID     string
	Digest string
	Steps  []StepResult
	// Seconds is the whole build's time.
	Seconds float64
}

// StepResult is one instruction's outcome.
type StepResult struct {
	Stage       int
	Step        int
	Instruction string
	Cached      bool
	Seconds     float64
}

// Builder runs builds over its host edges.
type Builder struct {
	Images Images
	VMs    VMs
	Diff   Differ
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (b *Builder) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}
