package vms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Put is an idempotent create, what a runtime shim or a scheduler retries
// without fear: the VM named name with spec, created (not started) unless
// it exists. An existing VM created with the same spec is returned as it
// is; one created with a different spec is an ErrConflict naming the
// fields that differ. Both specs are compared as Create records them (the
// config's defaults applied by the same function), so a retry of the same
// request matches; only a daemon whose defaults changed in between (vm.cpus,
// vm.memory, ...) sees another request there, and names that field, as
// it would make another VM. Two concurrent Puts of one name create one VM:
// Create's transaction refuses the second, which then compares.
func (s *Service) Put(ctx context.Context, name string, spec Spec) (VM, error) {
	if err := checkVMName(name); err != nil {
		return VM{}, err
	}
	if spec.From != "" {
		return VM{}, fmt.Errorf("%w: vm %s: a put does not restore a checkpoint; create forks with `banger run --from`", errdefs.ErrInvalid, name)
	}
	want, err := s.completeSpec(spec)
	if err != nil {
		return VM{}, err
	}
	for range 3 {
		vm, found, err := s.byName(name)
		if err != nil {
			return VM{}, err
		}
		if found {
			return vm, sameRequest(vm, want)
		}
		vm, err = s.Create(ctx, name, spec)
		if !errors.Is(err, errdefs.ErrExists) {
			return vm, err
		}
		// Another put (or create) of the name won: compare with its VM.
	}
	return VM{}, fmt.Errorf("vm %s: %w: it is being created and removed concurrently; retry", name, errdefs.ErrConflict)
}

// byName finds the VM called name exactly (never by id or id prefix).
func (s *Service) byName(name string) (VM, bool, error) {
	var found VM
	ok := false
	err := s.Store.View(func(tx *store.Tx) error {
		vms, err := store.List[VM](tx, store.VMs)
		for _, v := range vms {
			if v.Name == name {
				found, ok = v, true
			}
		}
		return err
	})
	return found, ok, err
}

// sameRequest says whether vm was created with want, else why not. A VM
// recorded before requests were kept is compared by its spec, whose
// kernel was pinned at create: it counts only when want names one.
func sameRequest(vm VM, want Spec) error {
	have := vm.Spec
	if vm.Request != nil {
		have = *vm.Request
	} else if want.Kernel == "" {
		have.Kernel = ""
	}
	// Who asked is not part of what was asked: another member of the
	// group may put the same spec.
	have.Caller, want.Caller = nil, nil
	diffs, err := specDiff(have, want)
	if err != nil {
		return fmt.Errorf("vm %s: compare specs: %w", vm.Name, err)
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("vm %s: %w: it exists with a different spec (%s); remove it first (`banger rm -f %s`, DELETE /v1/vms/%s) to create it anew, or put the spec it was created with",
		vm.Name, errdefs.ErrConflict, strings.Join(diffs, "; "), vm.Name, vm.Name)
}

// specDiff lists the fields (by their JSON names) in which a and b
// differ, each as "name: A ≠ B", sorted by name. Both are
// compared in their JSON form, so an empty list and a missing one, or
// labels in another order, are the same.
func specDiff(a, b Spec) ([]string, error) {
	ma, err := jsonFields(a)
	if err != nil {
		return nil, err
	}
	mb, err := jsonFields(b)
	if err != nil {
		return nil, err
	}
	union := maps.Clone(ma)
	maps.Copy(union, mb)
	keys := slices.Sorted(maps.Keys(union))
	var out []string
	for _, k := range keys {
		if !bytes.Equal(ma[k], mb[k]) {
			out = append(out, fmt.Sprintf("%s: %s ≠ %s", k, short(ma[k]), short(mb[k])))
		}
	}
	return out, nil
}

func jsonFields(sp Spec) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	return m, json.Unmarshal(b, &m)
}

// short is a field's value for a message: its JSON, cut at 60 bytes, or
// "unset".
func short(v json.RawMessage) string {
	switch {
	case v == nil:
		return "unset"
	case len(v) > 60:
		return string(v[:57]) + "..."
	}
	return string(v)
}
