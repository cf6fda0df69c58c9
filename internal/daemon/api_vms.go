package daemon

import (
	"cmp"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/sshproxy"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/api"
)

// vmRoutes registers the VM API: each handler gets its typed request,
// calls the VM service and converts its answer to wire types.
func (d *Daemon) vmRoutes(rt *api.Router) {
	api.Handle(rt, api.CreateVM, func(r *http.Request, req api.CreateVMRequest) (api.VM, error) {
		// A spec naming a checkpoint is a fork's, made from the checkpoint.
		if from := cmp.Or(req.From, req.Spec.From); from != "" {
			return wireVM(d.vms.CreateFrom(r.Context(), req.Name, from, req.Spec.Detach))
		}
		spec, err := authorize(r, specFromAPI(req.Spec))
		if err != nil {
			return api.VM{}, err
		}
		return wireVM(d.vms.Create(r.Context(), req.Name, spec))
	})
	api.Handle(rt, api.PutVM, func(r *http.Request, req api.PutVMRequest) (api.VM, error) {
		spec, err := authorize(r, specFromAPI(req.Spec))
		if err != nil {
			return api.VM{}, err
		}
		return wireVM(d.vms.Put(r.Context(), r.PathValue("name"), spec))
	})
	api.Handle(rt, api.ListVMs, func(_ *http.Request, q api.ListVMsQuery) ([]api.VM, error) {
		list, err := d.vms.List(q.All, q.Labels...)
		return vmsToAPI(list), err
	})
	api.Handle(rt, api.GetVM, func(r *http.Request, _ api.None) (api.VM, error) {
		return wireVM(d.vms.Get(r.PathValue("ref")))
	})
	api.HandleStream(rt, api.StartVM, func(r *http.Request, _ api.None, ew *api.EventWriter) (api.StartResult, error) {
		return wireStart(ew)(d.vms.Start(r.Context(), r.PathValue("ref")))
	})
	api.Handle(rt, api.StopVM, func(r *http.Request, q api.StopVMQuery) (api.VM, error) {
		return wireVM(d.vms.StopWith(r.Context(), r.PathValue("ref"), d.stopOptions(q)))
	})
	api.Handle(rt, api.KillVM, func(r *http.Request, q api.KillVMQuery) (api.VM, error) {
		return wireVM(d.vms.Kill(r.Context(), r.PathValue("ref"), q.Signal))
	})
	api.HandleStream(rt, api.RestartVM, func(r *http.Request, q api.StopVMQuery, ew *api.EventWriter) (api.StartResult, error) {
		return wireStart(ew)(d.vms.RestartWith(r.Context(), r.PathValue("ref"), d.stopOptions(q)))
	})
	api.Handle(rt, api.WaitVM, func(r *http.Request, _ api.None) (api.VM, error) {
		return wireVM(d.vms.Wait(r.Context(), r.PathValue("ref")))
	})
	api.Handle(rt, api.UpdateVM, func(r *http.Request, req api.UpdateVMRequest) (api.VM, error) {
		var u vms.Update
		if req.Restart != nil {
			p := restartFromAPI(*req.Restart)
			u.Restart = &p
		}
		return wireVM(d.vms.Update(r.Context(), r.PathValue("ref"), u))
	})
	api.Handle(rt, api.RemoveVM, func(r *http.Request, q api.RemoveVMQuery) (api.None, error) {
		return api.None{}, d.vms.RemoveWith(r.Context(), r.PathValue("ref"), vms.RemoveOptions{Force: q.Force, MissingOK: q.MissingOK})
	})
	api.Handle(rt, api.PauseVM, func(r *http.Request, _ api.None) (api.VM, error) {
		return wireVM(d.vms.Pause(r.Context(), r.PathValue("ref")))
	})
	api.Handle(rt, api.UnpauseVM, func(r *http.Request, _ api.None) (api.VM, error) {
		return wireVM(d.vms.Unpause(r.Context(), r.PathValue("ref")))
	})
	api.Handle(rt, api.RenameVM, func(r *http.Request, req api.RenameVMRequest) (api.VM, error) {
		return wireVM(d.vms.Rename(r.PathValue("ref"), req.Name))
	})
	api.Handle(rt, api.PutVMContainer, func(r *http.Request, req api.PutVMContainerRequest) (api.VM, error) {
		return wireVM(d.vms.AddContainer(r.Context(), r.PathValue("ref"), r.PathValue("id"), req.Image))
	})
	api.Handle(rt, api.RemoveVMContainer, func(r *http.Request, _ api.None) (api.VM, error) {
		return wireVM(d.vms.RemoveContainer(r.Context(), r.PathValue("ref"), r.PathValue("id")))
	})
	api.Handle(rt, api.SampleVMs, func(r *http.Request, req api.VMStatsRequest) ([]api.VMStats, error) {
		return d.stats(r.Context(), req.VMs)
	})
	rt.Raw(api.VMLogs, d.logs)
	rt.Raw(api.AttachVM, d.attach)
	rt.Raw(api.VMSSH, d.ssh)
	api.Handle(rt, api.Doctor, func(r *http.Request, _ api.None) (api.DoctorReport, error) {
		return d.doctor(r.Context()), nil
	})
	api.Handle(rt, api.GC, func(r *http.Request, q api.GCQuery) (api.GCReport, error) {
		rep, err := d.vms.GC(r.Context(), q.DryRun)
		out := gcToAPI(rep)
		if err == nil {
			orphans, verr := d.volumes.GC(q.DryRun)
			out.Objects = append(out.Objects, gcObjects(volumeObjects(orphans), q.DryRun, verr)...)
			leftovers, serr := d.snapshots.GC(q.DryRun)
			out.Objects = append(out.Objects, gcObjects(snapshotObjects(leftovers), q.DryRun, serr)...)
			leftovers, serr = d.checkpoints.GC(q.DryRun)
			out.Objects = append(out.Objects, gcObjects(snapshotObjects(leftovers), q.DryRun, serr)...)
			bridges, nerr := d.networks.GC(r.Context(), q.DryRun)
			out.Objects = append(out.Objects, gcObjects(networkObjects(bridges), q.DryRun, nerr)...)
		}
		return out, err
	})
	api.Handle(rt, api.Inventory, func(r *http.Request, _ api.None) ([]api.HostObject, error) {
		out := append(hostObjectsToAPI(d.vms.Inventory(r.Context())), volumeObjects(d.volumes.Inventory())...)
		out = append(out, snapshotObjects(d.snapshots.Inventory())...)
		out = append(out, snapshotObjects(d.checkpoints.Inventory())...)
		nets, err := d.networks.Inventory(r.Context())
		return append(out, networkObjects(nets)...), err
	})
	api.Handle(rt, api.TeardownNetwork, func(r *http.Request, _ api.None) (api.None, error) {
		return api.None{}, d.TeardownNetwork(r.Context())
	})
}

// stopOptions are a stop's: the request's signal and grace, else
// vm.stop_timeout.
func (d *Daemon) stopOptions(q api.StopVMQuery) vms.StopOptions {
	o := vms.StopOptions{Signal: q.Signal, Timeout: time.Duration(d.cfg.VM.StopTimeout) * time.Second}
	if q.Timeout != nil {
		o.Timeout = time.Duration(*q.Timeout) * time.Second
	}
	return o
}

// wireVM converts a service answer to the wire.
func wireVM(vm vms.VM, err error) (api.VM, error) {
	if err != nil {
		return api.VM{}, err
	}
	return vmToAPI(vm), nil
}

// wireStart converts a start's (or restart's) answer to the wire; what
// went wrong without failing it (a boot snapshot not restored or saved)
// goes to the stream as warnings.
func wireStart(ew *api.EventWriter) func(vms.StartResult, error) (api.StartResult, error) {
	return func(res vms.StartResult, err error) (api.StartResult, error) {
		for _, w := range res.Warnings {
			ew.Message("warning: " + w)
		}
		if err != nil {
			return api.StartResult{}, err
		}
		return api.StartResult{VM: vmToAPI(res.VM), Timings: res.Timings}, nil
	}
}

// ssh upgrades the connection to SSH and proxies the client's channels
// onto the VM's agent connection (package sshproxy). The CLI's exec, ssh,
// cp and run, and OpenSSH through `banger ssh-config`, all come in here.
func (d *Daemon) ssh(w http.ResponseWriter, r *http.Request) {
	tr := sshproxy.NewTrace(time.Now())
	agent, err := d.vms.Agent(r.Context(), r.PathValue("ref"))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	tr.Mark("lookup")
	w.Header().Set(api.HeaderProxyHostKey, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(d.parts.proxyKey.PublicKey()))))
	conn, err := api.Hijack(w, r, api.ProtocolSSH)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	tr.Mark("upgrade")
	if err := sshproxy.Serve(d.ctx, conn, d.parts.proxyKey, agent, tr); err != nil {
		d.log.Debug("ssh proxy session", "vm", r.PathValue("ref"), "error", err)
	}
}
