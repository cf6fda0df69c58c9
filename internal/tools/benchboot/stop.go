package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/tools/benchdaemon"
)

// benchStop is `make bench-stop`: in each round it starts a VM whose main
// process exits on SIGTERM (sleep) and times `banger stop` of it, then
// one whose main process is killed by `banger kill`, the floor a stop
// approaches: both end the process and the guest, sync and power off.
func (b *bench) benchStop(rounds int) error {
	var stopT, killT []float64
	for i := range rounds {
		for _, how := range []string{"stop", "kill"} {
			out, err := b.cliOut("run", "-d", "bench", "--", "sleep", "1000")
			if err != nil {
				return err
			}
			id := strings.TrimSpace(out)
			t0 := time.Now()
			if _, err := b.cli(how, id); err != nil {
				return err
			}
			d := secs(time.Since(t0))
			if _, err := b.cli("rm", id); err != nil {
				return err
			}
			if how == "stop" {
				stopT = append(stopT, d)
			} else {
				killT = append(killT, d)
			}
		}
		fmt.Printf("round %d: stop %.3fs  kill %.3fs\n", i+1, stopT[i], killT[i])
	}
	ms, mk := benchdaemon.Median(stopT), benchdaemon.Median(killT)
	fmt.Printf("\nbanger stop (main exits on SIGTERM)  median %.3fs\n", ms)
	fmt.Printf("banger kill                          median %.3fs\n", mk)
	fmt.Printf("ratio stop/kill                      %.2fx\n\n", ms/mk)
	return nil
}
