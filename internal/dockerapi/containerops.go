package dockerapi

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/procfs"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// opsRoutes: the container operations beyond `docker run` — each the VM
// service's own (pause is the backend's vCPU pause, top the agent's
// process list, stats the collector's sample).
func (s *Server) opsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /containers/{id}/pause", s.vmOp(func(r *http.Request, vm vms.VM) error {
		_, err := s.opts.Ops.Live.Pause(r.Context(), vm.ID)
		return err
	}))
	mux.HandleFunc("POST /containers/{id}/unpause", s.vmOp(func(r *http.Request, vm vms.VM) error {
		_, err := s.opts.Ops.Live.Unpause(r.Context(), vm.ID)
		return err
	}))
	mux.HandleFunc("POST /containers/{id}/rename", s.vmOp(func(r *http.Request, vm vms.VM) error {
		name := strings.TrimPrefix(r.URL.Query().Get("name"), "/")
		if name == "" {
			return badParam("rename: give the new name (name=)")
		}
		_, err := s.opts.Ops.Live.Rename(vm.ID, name)
		return err
	}))
	mux.HandleFunc("GET /containers/{id}/top", s.top)
	mux.HandleFunc("GET /containers/{id}/stats", s.stats)
}

// vmOp answers an operation on the container {id}: 204, or the error.
func (s *Server) vmOp(op func(*http.Request, vms.VM) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		vm, err := s.vm(r.PathValue("id"))
		if err == nil {
			err = op(r, vm)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// top lists the guest's processes: without ps_args the agent reads the
// guest's /proc (every image, with a ps or not); with them the guest's
// own ps runs with those options, its output split into columns as
// Docker does.
func (s *Server) top(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if vm.State != vms.Running && vm.State != vms.Paused {
		writeError(w, kindError(errdefs.ErrConflict, "Container %s is not running", vm.Name))
		return
	}
	c, err := s.opts.Ops.Live.Agent(r.Context(), vm.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	agent := agentclient.Over(c)
	var resp container.TopResponse
	if args := strings.Fields(r.URL.Query().Get("ps_args")); len(args) > 0 {
		var out, errOut bytes.Buffer
		code, err := agent.Exec(r.Context(), agentclient.ExecRequest{Argv: append([]string{"ps"}, args...), User: "0", Stdout: &out, Stderr: &errOut})
		if err == nil && code != 0 {
			err = fmt.Errorf("ps %s in container %s exited %d: %s", strings.Join(args, " "), vm.Name, code, strings.TrimSpace(errOut.String()))
		}
		if err == nil {
			resp, err = parsePS(out.String())
		}
		if err != nil {
			writeError(w, err)
			return
		}
	} else {
		procs, err := agent.Processes(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		resp = topOf(procs)
	}
	writeJSON(w, http.StatusOK, resp)
}

// topOf is the agent's process list in `banger top`'s columns.
func topOf(procs []proto.Process) container.TopResponse {
	resp := container.TopResponse{Titles: []string{"PID", "PPID", "USER", "STAT", "RSS", "TIME", "COMMAND"}, Processes: [][]string{}}
	for _, p := range procs {
		secs := p.CPUTicks / procfs.ClockTicks
		user := p.User
		if user == "" {
			user = strconv.Itoa(p.UID)
		}
		resp.Processes = append(resp.Processes, []string{
			strconv.Itoa(p.PID), strconv.Itoa(p.PPID), user, p.State,
			units.FormatSize(int64(p.RSSBytes)), //nolint:gosec // memory sizes fit
			fmt.Sprintf("%d:%02d", secs/60, secs%60), p.Command,
		})
	}
	return resp
}

// parsePS splits ps output as Docker does: the first line's words are
// the titles; each later line has as many columns, the last taking the
// rest of the line (a command with spaces).
func parsePS(out string) (container.TopResponse, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	var resp container.TopResponse
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		if resp.Titles == nil {
			resp.Titles = strings.Fields(line)
			resp.Processes = [][]string{}
			continue
		}
		f := strings.Fields(line)
		if n := len(resp.Titles); len(f) > n {
			f = append(f[:n-1], strings.Join(f[n-1:], " "))
		}
		resp.Processes = append(resp.Processes, f)
	}
	if resp.Titles == nil {
		return resp, fmt.Errorf("ps printed nothing: %w", errdefs.ErrUnavailable)
	}
	return resp, nil
}
