//go:build !linux

package dmsnap

import (
	"context"
	"fmt"
	"io"

	"github.com/bangerdev/banger/pkg/errdefs"
)

type hostSystem struct{}

var errOS = fmt.Errorf("dm-snapshot: %w on this OS", errdefs.ErrUnsupported)

func lookDmsetup() (string, error) { return "", errOS }

func (hostSystem) Run(context.Context, []string) ([]byte, error)              { return nil, errOS }
func (hostSystem) CreateSparse(string, int64) error                           { return errOS }
func (hostSystem) DetachLoop(string) error                                    { return errOS }
func (hostSystem) Loops() ([]Loop, error)                                     { return nil, errOS }
func (hostSystem) Devices() ([]Device, error)                                 { return nil, errOS }
func (hostSystem) AttachLoop(string, string, bool) (string, io.Closer, error) { return "", nil, errOS }

// AttachLoop is unsupported off Linux.
func AttachLoop(string, string, bool) (string, io.Closer, error) { return "", nil, errOS }
