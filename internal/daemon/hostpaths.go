package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/bangerdev/banger/internal/hostaccess"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/api"
)

// callerOf is who made r (package hostaccess): its connection's peer
// credentials, or hostaccess.Unknown without (not a unix socket), who may
// name no host path.
func callerOf(r *http.Request) hostaccess.Caller {
	return hostaccess.FromPeer(api.PeerOf(r.Context()))
}

// authorize applies the host-path rule to a client's VM spec (see
// vms.Authorize).
func authorize(r *http.Request, spec vms.Spec) (vms.Spec, error) {
	return vms.Authorize(callerOf(r), spec)
}

// authorizeKernelImport applies the host-path rule to a kernel import's
// paths, each read by the daemon: a file the caller can read, a directory
// the caller can read and search. It returns them as the kernel resolved
// them for the caller.
func authorizeKernelImport(r *http.Request, req api.KernelImportRequest) (api.KernelImportRequest, error) {
	c := callerOf(r)
	var errs []error
	for _, p := range []struct {
		flag string
		path *string
	}{{"path", &req.Path}, {"--config", &req.Config}, {"--modules", &req.Modules}} {
		if *p.path == "" {
			continue
		}
		kind := hostaccess.File
		if fi, err := os.Stat(*p.path); err == nil && fi.IsDir() {
			kind = hostaccess.Directory
		}
		resolved, err := hostaccess.Check(c, *p.path, hostaccess.Read, kind)
		if err != nil {
			errs = append(errs, fmt.Errorf("kernel import %s: %w", p.flag, err))
			continue
		}
		*p.path = resolved
	}
	return req, errors.Join(errs...)
}
