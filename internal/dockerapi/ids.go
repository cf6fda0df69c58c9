package dockerapi

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// containerID is the 64-hex-digit Docker id of the VM with id vmID: the
// VM id, then digits derived from it, so the 12 digits docker prints
// are the VM id and every prefix of the whole finds the VM.
func containerID(vmID string) string {
	sum := sha256.Sum256([]byte("banger-container:" + vmID))
	id := vmID + hex.EncodeToString(sum[:])
	return id[:64]
}

// vmIDLen is how many digits of a container id are the VM's id.
const vmIDLen = 12

// vm finds the container ref names: a Docker id or any unique prefix of
// one (the VM id is one), or a name with or without Docker's leading
// "/".
func (s *Server) vm(ref string) (vms.VM, error) {
	ref = strings.TrimPrefix(ref, "/")
	look := ref
	if len(ref) > vmIDLen && len(ref) <= 64 && isHex(ref) {
		look = ref[:vmIDLen]
	}
	vm, err := s.opts.VMs.Get(look)
	if look != ref && (isNotFound(err) || err == nil && !strings.HasPrefix(containerID(vm.ID), ref)) {
		// No container has that id: a name that happens to be long hex,
		// or a foreign id.
		vm, err = s.opts.VMs.Get(ref)
	}
	if isNotFound(err) && isHex(ref) && len(ref) < 3 {
		// The VM service takes id prefixes of 3 digits and more; Docker
		// takes any unique one.
		vm, err = s.byShortPrefix(ref)
	}
	if isNotFound(err) {
		return vm, kindError(errdefs.ErrNotFound, "No such container: %s", ref)
	}
	return vm, err
}

// byShortPrefix finds the one VM whose container id starts with ref.
func (s *Server) byShortPrefix(ref string) (vms.VM, error) {
	list, err := s.opts.VMs.List(true)
	if err != nil {
		return vms.VM{}, err
	}
	var found []vms.VM
	for _, vm := range list {
		if strings.HasPrefix(containerID(vm.ID), ref) {
			found = append(found, vm)
		}
	}
	switch len(found) {
	case 0:
		return vms.VM{}, errdefs.ErrNotFound
	case 1:
		return found[0], nil
	}
	return vms.VM{}, kindError(errdefs.ErrInvalid, "multiple IDs found with provided prefix: %s", ref)
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}
