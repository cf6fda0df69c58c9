package daemon

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/store"
)

// EnvAgent overrides where the daemon finds the banger-agent binary that
// becomes the initramfs's /init (default: banger-agent next to the
// daemon's executable, then $PATH).
const EnvAgent = "BANGER_AGENT"

// kernelState tracks kernel names being imported, so two imports of one
// name never race for its directory.
type kernelState struct {
	mu   sync.Mutex
	busy map[string]bool
}

// kernelRoutes registers the kernel catalog's API.
func (d *Daemon) kernelRoutes(rt *api.Router) {
	// importKernel tells an upload from a host path by its content type.
	rt.Stream(api.ImportKernel, d.importKernel)
	rt.Stream(api.UploadKernel, d.importKernel)
	rt.Stream(api.PullKernel, d.pullKernel)
	rt.JSON(api.ListKernels, d.listKernels)
	rt.JSON(api.GetKernel, d.getKernel)
	rt.JSON(api.RemoveKernel, d.removeKernel)
}

// importKernel imports a path on the daemon's host (JSON body) or an
// uploaded file (any other content type; name and default in the query).
func (d *Daemon) importKernel(r *http.Request, ew *api.EventWriter) (any, error) {
	var req api.KernelImportRequest
	src := ""
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		if err := api.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		for _, p := range []string{req.Path, req.Config, req.Modules} {
			if p != "" && !filepath.IsAbs(p) || req.Path == "" {
				return nil, fmt.Errorf("%w: path %q: the daemon needs absolute paths on its host", errdefs.ErrInvalid, p)
			}
		}
		src = req.Path
	} else {
		q := r.URL.Query()
		req.Name = q.Get("name")
		req.Default, _ = strconv.ParseBool(q.Get("default"))
		up, err := d.receiveUpload(r.Body)
		if err != nil {
			return nil, err
		}
		defer func() { _ = os.Remove(up) }()
		src = up
	}
	opts, release := d.kernelOptions(ew, req.Name, req.Default)
	defer release()
	opts.Config, opts.Modules = req.Config, req.Modules
	return kernelcat.Import(r.Context(), src, "", opts)
}

// receiveUpload stores an uploaded kernel file in the state dir's scratch
// space, bounded like an image layer.
func (d *Daemon) receiveUpload(body io.Reader) (string, error) {
	f, err := os.CreateTemp(d.layout.Tmp(), "kernel-upload-")
	if err != nil {
		return "", err
	}
	limit := int64(d.cfg.Image.MaxLayerBytes)
	if limit <= 0 {
		limit = 32 << 30
	}
	n, err := io.Copy(f, io.LimitReader(body, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		err = fmt.Errorf("receive upload: %w", err)
	case n > limit:
		err = fmt.Errorf("%w: upload larger than image.max_layer_bytes (%d)", errdefs.ErrInvalid, limit)
	case n == 0:
		err = fmt.Errorf("%w: empty upload", errdefs.ErrInvalid)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func (d *Daemon) pullKernel(r *http.Request, ew *api.EventWriter) (any, error) {
	var req api.KernelPullRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	opts, release := d.kernelOptions(ew, req.Name, req.Default)
	defer release()
	return kernelcat.Pull(r.Context(), req.Ref, "", kernelcat.PullOptions{
		Options:   opts,
		SHA256:    req.SHA256,
		Downloads: d.layout.KernelDownloads(),
		OCI:       d.FlattenImage,
	})
}

// kernelOptions wires an import to the layout, the store and the stream.
// Call release when the import has returned: it frees the name reserved.
func (d *Daemon) kernelOptions(ew *api.EventWriter, name string, makeDefault bool) (kernelcat.Options, func()) {
	var reserved string // set by reserveKernel, under d.kernels.mu
	release := func() {
		d.kernels.mu.Lock()
		defer d.kernels.mu.Unlock()
		if reserved != "" {
			delete(d.kernels.busy, reserved)
		}
	}
	return kernelcat.Options{
		Name:     name,
		Agent:    d.agentPath(),
		Tmp:      d.layout.Tmp(),
		MaxBytes: int64(d.cfg.Image.MaxLayerBytes),
		Progress: ew.Progress,
		Message:  ew.Message,
		DestFor:  func(name string) (string, error) { return d.reserveKernel(name, &reserved) },
		Commit:   func(k *api.Kernel) error { return d.commitKernel(k, makeDefault) },
	}, release
}

// reserveKernel claims name for an import: no record may hold it and no
// other import may be building it. A directory left without a record (a
// daemon that died between rename and commit) is removed.
func (d *Daemon) reserveKernel(name string, claimed *string) (string, error) {
	d.kernels.mu.Lock()
	defer d.kernels.mu.Unlock()
	if d.kernels.busy == nil {
		d.kernels.busy = map[string]bool{}
	}
	if d.kernels.busy[name] {
		return "", fmt.Errorf("%w: kernel %q is being imported right now", errdefs.ErrConflict, name)
	}
	var exists bool
	_ = d.store.View(func(tx *store.Tx) error { exists = tx.Has(store.Kernels, name); return nil })
	if exists {
		return "", fmt.Errorf("%w: kernel %q already exists: pick another --name, or `banger kernel rm %s` first", errdefs.ErrExists, name, name)
	}
	dir := d.layout.Kernel(name)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("remove stale kernel dir %s: %w", dir, err)
	}
	d.kernels.busy[name] = true
	*claimed = name
	return dir, nil
}

// commitKernel records an installed kernel. It becomes the default when
// asked, or when it is the first kernel and the config names none.
func (d *Daemon) commitKernel(k *api.Kernel, makeDefault bool) error {
	return d.store.Update(func(tx *store.Tx) error {
		all, err := store.List[api.Kernel](tx, store.Kernels)
		if err != nil {
			return err
		}
		k.Default = makeDefault || (len(all) == 0 && d.cfg.Kernel.Default == "")
		if k.Default {
			for _, o := range all {
				if o.Default {
					o.Default = false
					if err := tx.Put(store.Kernels, o.Name, o); err != nil {
						return err
					}
				}
			}
		}
		return tx.Create(store.Kernels, k.Name, k)
	})
}

func (d *Daemon) listKernels(*http.Request) (any, error) {
	ks, err := store.ListAll[api.Kernel](d.store, store.Kernels)
	if err != nil {
		return nil, err
	}
	def := d.effectiveDefault(ks)
	for i := range ks {
		ks[i].Default = ks[i].Name == def
	}
	if ks == nil {
		ks = []api.Kernel{}
	}
	return ks, nil
}

func (d *Daemon) getKernel(r *http.Request) (any, error) {
	k, err := d.kernel(r.PathValue("name"))
	return k, err
}

// kernel returns one record with its effective default flag.
func (d *Daemon) kernel(name string) (api.Kernel, error) {
	ks, err := store.ListAll[api.Kernel](d.store, store.Kernels)
	if err != nil {
		return api.Kernel{}, err
	}
	def := d.effectiveDefault(ks)
	for _, k := range ks {
		if k.Name == name {
			k.Default = k.Name == def
			return k, nil
		}
	}
	return api.Kernel{}, fmt.Errorf("kernel %q: %w (see `banger kernel ls`)", name, errdefs.ErrNotFound)
}

// effectiveDefault is the config's kernel.default, else the record marked
// default.
func (d *Daemon) effectiveDefault(ks []api.Kernel) string {
	if d.cfg.Kernel.Default != "" {
		return d.cfg.Kernel.Default
	}
	for _, k := range ks {
		if k.Default {
			return k.Name
		}
	}
	return ""
}

// removeKernel deletes a kernel no VM uses: the record first, so no state
// ever points at a missing directory.
func (d *Daemon) removeKernel(r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := kernelcat.ValidName(name); err != nil {
		return nil, err
	}
	err := d.store.Update(func(tx *store.Tx) error {
		var k api.Kernel
		if err := tx.Get(store.Kernels, name, &k); err != nil {
			return err
		}
		ks, err := store.List[api.Kernel](tx, store.Kernels)
		if err != nil {
			return err
		}
		isDefault := d.effectiveDefault(ks) == name
		vms, err := store.List[api.VM](tx, store.VMs)
		if err != nil {
			return err
		}
		for _, vm := range vms {
			if vm.Spec.Kernel == name || (vm.Spec.Kernel == "" && isDefault) {
				return fmt.Errorf("%w: kernel %q is used by VM %s: remove the VM first", errdefs.ErrConflict, name, vm.Name)
			}
		}
		return tx.Delete(store.Kernels, name)
	})
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(d.layout.Kernel(name)); err != nil { //nolint:gosec // name passed ValidName and was a record's key
		d.log.Warn("kernel record removed but not its files", "kernel", name, "error", err)
	}
	return nil, nil
}

// ResolveKernel returns the kernel a VM boots: name, or the default when
// name is empty. Its initramfs is rebuilt first when the installed agent
// differs from the one it holds, so the VM service only reads the result.
func (d *Daemon) ResolveKernel(name string) (api.Kernel, error) {
	if name == "" {
		ks, err := store.ListAll[api.Kernel](d.store, store.Kernels)
		if err != nil {
			return api.Kernel{}, err
		}
		if name = d.effectiveDefault(ks); name == "" {
			return api.Kernel{}, fmt.Errorf("%w: no default kernel: run `banger kernel pull debian-cloud`, or `banger kernel import --default PATH`", errdefs.ErrNotFound)
		}
	}
	k, err := d.kernel(name)
	if err != nil {
		return k, err
	}
	if agent := d.agentPath(); agent != "" {
		changed, err := kernelcat.EnsureInitrd(&k, agent)
		if err != nil {
			return k, err
		}
		if changed {
			err = d.store.Update(func(tx *store.Tx) error { return tx.Put(store.Kernels, k.Name, k) })
		}
		return k, err
	}
	return k, nil
}

// agentBinary finds the banger-agent binary images and initramfs images
// get, the one place that decides: the config's image.agent_binary (which
// must exist), else $BANGER_AGENT, else banger-agent next to the daemon's
// executable, else the system path (imagepull.LocateAgent). "" means none.
func (d *Daemon) agentBinary() (string, error) {
	configured := d.cfg.Image.AgentBinary
	if configured == "" {
		configured = os.Getenv(EnvAgent)
	}
	return imagepull.LocateAgent(configured)
}

// agentPath is agentBinary for callers that treat "no agent" and "the
// configured agent is missing" alike; the error is logged.
func (d *Daemon) agentPath() string {
	p, err := d.agentBinary()
	if err != nil {
		d.log.Warn("guest agent binary", "error", err)
	}
	return p
}
