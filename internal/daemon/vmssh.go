package daemon

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/sshproxy"
)

// sshHandler upgrades the connection to SSH and proxies the client's
// channels onto the VM's agent connection (see package sshproxy). The CLI's
// exec, ssh, cp and run, and OpenSSH through `banger ssh-config`, all come
// in here.
func (d *Daemon) sshHandler(w http.ResponseWriter, r *http.Request) {
	vm, err := d.resolveVM(r.PathValue("ref"))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	lv, err := d.running(vm.ID, vm.Name)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	agent, err := lv.agentClient(r.Context())
	if err != nil {
		api.WriteError(w, err)
		return
	}
	conn, err := api.Hijack(w, r, api.ProtocolSSH)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if err := sshproxy.Serve(d.ctx, conn, d.keys.proxy, agent.SSH()); err != nil {
		d.log.Debug("ssh proxy session", "vm", vm.ID, "error", err)
	}
}

// logsHandler streams a VM's serial console log; with follow=1 it keeps
// streaming new output until the VM stops or the client goes away.
func (d *Daemon) logsHandler(w http.ResponseWriter, r *http.Request) {
	vm, err := d.resolveVM(r.PathValue("ref"))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	f, err := os.Open(d.consoleLog(vm.ID))
	if os.IsNotExist(err) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		return
	}
	if err != nil {
		api.WriteError(w, err)
		return
	}
	defer func() { _ = f.Close() }()
	if n, err := strconv.Atoi(r.URL.Query().Get("tail")); err == nil && n >= 0 {
		seekToTail(f, n)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	follow := r.URL.Query().Get("follow") == "1"
	for {
		if _, err := io.Copy(w, f); err != nil {
			return
		}
		_ = rc.Flush()
		if !follow {
			return
		}
		lv := d.live.get(vm.ID)
		if lv == nil {
			_, _ = io.Copy(w, f)
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-lv.done:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// seekToTail positions f at the start of its last n lines.
func seekToTail(f *os.File, n int) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	const chunk = 64 << 10
	start := max(fi.Size()-chunk*4, 0)
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return
	}
	var offsets []int64
	pos := start
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			pos += int64(len(line))
			offsets = append(offsets, pos)
		}
		if err != nil {
			break
		}
	}
	target := start
	if len(offsets) > n {
		target = offsets[len(offsets)-n-1]
	}
	_, _ = f.Seek(target, io.SeekStart)
}
