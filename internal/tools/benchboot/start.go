package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/tools/benchdaemon"
	"github.com/bangerdev/banger/internal/vmm"
)

// benchStart is `make bench-start`: in each round `banger run --rm bench
// -- true` restored from the boot snapshot, the same with --cold, and the
// bare QEMU boot; then the memory of 5 VMs started each way.
func (b *bench) benchStart(rounds int, bare func() (time.Duration, error)) error {
	// The first held boot saves the snapshot every restored round uses.
	if _, err := b.timedRun(map[string][]float64{}); err != nil {
		return err
	}
	var restT, coldT, bareT []float64
	restP, coldP := map[string][]float64{}, map[string][]float64{}
	for i := range rounds {
		r, err := b.timedRun(restP)
		if err != nil {
			return err
		}
		c, err := b.timedRun(coldP, "--cold")
		if err != nil {
			return err
		}
		q, err := bare()
		if err != nil {
			return err
		}
		restT, coldT, bareT = append(restT, r), append(coldT, c), append(bareT, secs(q))
		fmt.Printf("round %d: restored %.3fs  cold %.3fs  bare qemu %.3fs\n", i+1, r, c, secs(q))
	}
	if n := len(restP["restore"]); n != rounds {
		return fmt.Errorf("%d of %d runs were restored from the boot snapshot: the rest booted cold (see the daemon log in %s)", n, rounds, b.d.Root())
	}
	mr, mc, mq := benchdaemon.Median(restT), benchdaemon.Median(coldT), benchdaemon.Median(bareT)
	fmt.Printf("\nbanger run --rm IMG -- true, restored   median %.3fs\n", mr)
	fmt.Printf("banger run --rm --cold IMG -- true      median %.3fs\n", mc)
	fmt.Printf("bare qemu boot to power-off             median %.3fs\n", mq)
	fmt.Printf("ratio restored/bare %.2fx (target <= 0.30x)   restored/cold %.2fx   cold/bare %.2fx\n\n", mr/mq, mr/mc, mc/mq)
	printPhases("restored phases, median (ms):", restP)
	printPhases("cold phases, median (ms):", coldP)
	return b.memory(5)
}

// memory starts n VMs restored and n cold (each running sleep) and prints
// their VMMs' total RSS and PSS: restored VMs map the snapshot's RAM
// file privately, so what they have not written is shared (PSS < RSS).
func (b *bench) memory(n int) error {
	fmt.Printf("\nmemory of %d VMs each way (VMM processes, after the agent answered an exec):\n", n)
	for _, mode := range []struct {
		name  string
		flags []string
	}{{"restored", nil}, {"cold", []string{"--cold"}}} {
		var ids []string
		var rss, pss int64
		for range n {
			args := append(append([]string{"run", "-d"}, mode.flags...), "bench", "--", "sleep", "3600")
			out, err := b.cliOut(args...)
			if err != nil {
				return err
			}
			ids = append(ids, strings.TrimSpace(out))
		}
		for _, id := range ids {
			if _, err := b.cli("exec", id, "--", "true"); err != nil {
				return err
			}
			r, p, err := vmmMemory(id)
			if err != nil {
				return err
			}
			rss, pss = rss+r, pss+p
		}
		fmt.Printf("  %-9s total RSS %6.1f MiB  total PSS %6.1f MiB  (per VM RSS %.1f MiB)\n", mode.name, mib(rss), mib(pss), mib(rss)/float64(n))
		for _, id := range ids {
			if _, err := b.cli("rm", "-f", id); err != nil {
				return err
			}
		}
	}
	return nil
}

// vmmMemory reads the Rss and Pss (bytes) of a VM's VMM process.
func vmmMemory(id string) (rss, pss int64, err error) {
	pids, err := proc.FindByEnv(vmm.EnvVMID, id)
	if err != nil || len(pids) != 1 {
		return 0, 0, fmt.Errorf("find the VMM of %s: %v: %w", id, pids, err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pids[0]))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss = kb << 10
		case "Pss:":
			pss = kb << 10
		}
	}
	return rss, pss, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
