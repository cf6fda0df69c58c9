package agentclient_test

import (
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/procfs"
)

// The agent answers memory and process requests from its /proc (here the
// test host's, where the agent runs as a process).
func TestMemoryAndProcesses(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{
		Main:     &bootcfg.Process{Argv: []string{"sleep", "61"}},
		Detached: true,
	})
	c := a.Dial(t)
	m, err := c.Memory(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	host, err := procfs.Proc.Meminfo()
	if err != nil {
		t.Fatal(err)
	}
	if m.TotalBytes != host.TotalBytes || m.AvailableBytes == 0 || m.AvailableBytes > m.TotalBytes {
		t.Errorf("memory %+v; /proc/meminfo says total %d", m, host.TotalBytes)
	}
	var found bool
	for range 50 {
		procs, err := c.Processes(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range procs {
			if p.Command == "sleep 61" {
				found = true
				if p.PID <= 0 || p.State == "" || p.User == "" || p.Threads != 1 {
					t.Errorf("main process listed as %+v", p)
				}
			}
		}
		if found {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !found {
		t.Fatal("the main process `sleep 61` is not listed")
	}
}
