package daemon

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/sshproxy"
	"github.com/bangerdev/banger/internal/vms"
)

// vmRoutes registers the VM API: each handler decodes the request, calls
// the VM service and converts its answer to wire types.
func (d *Daemon) vmRoutes(rt *api.Router) {
	rt.JSON("POST /v1/vms", d.createVM)
	rt.JSON("GET /v1/vms", d.listVMs)
	rt.JSON("GET /v1/vms/{ref}", d.getVM)
	rt.Stream("POST /v1/vms/{ref}/start", d.startVM)
	rt.JSON("POST /v1/vms/{ref}/stop", d.stopVM)
	rt.JSON("POST /v1/vms/{ref}/kill", d.killVM)
	rt.JSON("POST /v1/vms/{ref}/wait", d.waitVM)
	rt.JSON("DELETE /v1/vms/{ref}", d.removeVM)
	rt.Mux.HandleFunc("GET /v1/vms/{ref}/logs", d.logs)
	rt.Mux.HandleFunc("POST /v1/vms/{ref}/ssh", d.ssh)
	rt.JSON("GET /v1/doctor", d.doctorHandler)
	rt.JSON("POST /v1/gc", d.gc)
	rt.JSON("GET /v1/inventory", d.inventory)
	rt.JSON("POST /v1/network/teardown", d.networkTeardown)
}

func (d *Daemon) createVM(r *http.Request) (any, error) {
	var req api.CreateVMRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	vm, err := d.vms.Create(r.Context(), req.Name, specFromAPI(req.Spec))
	if err != nil {
		return nil, err
	}
	return vmToAPI(vm), nil
}

func (d *Daemon) listVMs(r *http.Request) (any, error) {
	list, err := d.vms.List(r.URL.Query().Get("all") == "1")
	if err != nil {
		return nil, err
	}
	return vmsToAPI(list), nil
}

func (d *Daemon) getVM(r *http.Request) (any, error) {
	vm, err := d.vms.Get(r.PathValue("ref"))
	if err != nil {
		return nil, err
	}
	return vmToAPI(vm), nil
}

func (d *Daemon) startVM(r *http.Request, _ *api.EventWriter) (any, error) {
	res, err := d.vms.Start(r.Context(), r.PathValue("ref"))
	if err != nil {
		return nil, err
	}
	return api.StartResult{VM: vmToAPI(res.VM), Timings: res.Timings}, nil
}

func (d *Daemon) stopVM(r *http.Request) (any, error) {
	timeout := time.Duration(d.cfg.VM.StopTimeout) * time.Second
	if t := r.URL.Query().Get("timeout"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: timeout %q: want seconds", errdefs.ErrInvalid, t)
		}
		timeout = time.Duration(n) * time.Second
	}
	return d.stopped(d.vms.Stop(r.Context(), r.PathValue("ref"), timeout))
}

func (d *Daemon) killVM(r *http.Request) (any, error) {
	return d.stopped(d.vms.Stop(r.Context(), r.PathValue("ref"), 0))
}

func (d *Daemon) waitVM(r *http.Request) (any, error) {
	return d.stopped(d.vms.Wait(r.Context(), r.PathValue("ref")))
}

func (d *Daemon) stopped(vm vms.VM, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return vmToAPI(vm), nil
}

func (d *Daemon) removeVM(r *http.Request) (any, error) {
	return nil, d.vms.Remove(r.Context(), r.PathValue("ref"), r.URL.Query().Get("force") == "1")
}

func (d *Daemon) gc(r *http.Request) (any, error) {
	rep, err := d.vms.GC(r.Context(), r.URL.Query().Get("dry_run") == "1")
	if err != nil {
		return nil, err
	}
	return gcToAPI(rep), nil
}

func (d *Daemon) inventory(r *http.Request) (any, error) {
	return hostObjectsToAPI(d.vms.Inventory(r.Context())), nil
}

func (d *Daemon) networkTeardown(r *http.Request) (any, error) {
	return nil, d.TeardownNetwork(r.Context())
}

// ssh upgrades the connection to SSH and proxies the client's channels
// onto the VM's agent connection (package sshproxy). The CLI's exec, ssh,
// cp and run, and OpenSSH through `banger ssh-config`, all come in here.
func (d *Daemon) ssh(w http.ResponseWriter, r *http.Request) {
	agent, err := d.vms.Agent(r.Context(), r.PathValue("ref"))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	conn, err := api.Hijack(w, r, api.ProtocolSSH)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if err := sshproxy.Serve(d.ctx, conn, d.parts.proxyKey, agent); err != nil {
		d.log.Debug("ssh proxy session", "vm", r.PathValue("ref"), "error", err)
	}
}

// logs streams a VM's serial console log; with follow=1 it keeps
// streaming new output until the VM stops or the client goes away.
func (d *Daemon) logs(w http.ResponseWriter, r *http.Request) {
	vm, err := d.vms.Get(r.PathValue("ref"))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	o := vms.LogOptions{Follow: r.URL.Query().Get("follow") == "1", Tail: -1}
	if n, err := strconv.Atoi(r.URL.Query().Get("tail")); err == nil && n >= 0 {
		o.Tail = n
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = d.vms.Logs(r.Context(), vm.ID, o, w, func() { _ = rc.Flush() })
}
