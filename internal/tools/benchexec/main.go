// Command benchexec is `make bench-exec`: where the time of
// `banger exec VM true` on a running VM goes. It starts one VM of the
// busybox test image on a throwaway daemon and runs, interleaved for
// -rounds rounds, side by side:
//
//   - `banger exec VM true`, the real CLI binary, wall clock;
//   - `banger --version`: the CLI's process start and command tree, no
//     daemon;
//   - `banger inspect VM`: an API round trip that does not reach the VM;
//   - an exec made in this process through agentclient on one open
//     connection to the daemon's SSH front door: the daemon's proxy, the
//     agent and the guest's spawn, without a CLI process or a handshake;
//     and the same as older agents take it (a session channel, then the
//     exec request: one round trip to the guest more);
//   - `banger exec --timings VM true`, whose steps (the CLI's and the
//     daemon's, measured inside) give the breakdown.
//
// Then, in the guest, this program (built static, the `guest` mode) times
// N fork+exec+wait of /bin/true: the guest's own floor for a spawn, and a
// small static Go program's start on the host is the floor for a process
// start. It prints medians, p90, the breakdown and the ratios.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/tools/benchdaemon"
)

// TargetMS is the target for the median `banger exec VM true` on a
// running VM.
const TargetMS = 30

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "guest":
		err = guest(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "noop":
		return // the floor of a process start: a small static Go program
	default:
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-exec:", err)
		os.Exit(1)
	}
}

// samples are one case's durations in milliseconds.
type samples []float64

func (s samples) median() float64 { return benchdaemon.Median(s) }

// p90 is the 90th percentile (nearest rank).
func (s samples) p90() float64 {
	if len(s) == 0 {
		return 0
	}
	c := append(samples(nil), s...)
	sort.Float64s(c)
	i := (len(c)*9+9)/10 - 1
	return c[max(i, 0)]
}

func run() error {
	var (
		banger = flag.String("banger", "bin/banger", "banger binary")
		helper = flag.String("helper", "", "this program built static (the guest's spawn loop, the host's bare process start)")
		kernel = flag.String("kernel-deb", "", "Debian linux-image .deb to import")
		image  = flag.String("image-tar", "", "root file system tarball to import")
		rounds = flag.Int("rounds", 30, "timed rounds of each case")
	)
	flag.Parse()
	if *kernel == "" || *image == "" || *helper == "" {
		return errors.New("need -kernel-deb, -image-tar and -helper")
	}
	d, err := benchdaemon.Start(*banger, "bgx", 222, *kernel, *image)
	if err != nil {
		return err
	}
	defer d.Stop()
	const vm = "ex"
	for _, args := range [][]string{
		{"run", "-d", "--name", vm, "bench", "--", "sleep", "1000000"},
		{"cp", *helper, vm + ":/benchexec"},
		{"exec", vm, "chmod", "+x", "/benchexec"},
	} {
		if _, _, err := d.CLI(args...); err != nil {
			return err
		}
	}
	inproc, err := dialInProcess(d.Host(), vm)
	if err != nil {
		return err
	}
	defer inproc.close()

	cases := []struct {
		name string
		time func() (float64, error)
	}{
		{"banger exec VM true", wall(*banger, "--host", d.Host(), "exec", vm, "true")},
		{"banger --version (no daemon)", wall(*banger, "--version")},
		{"exec in-process, open connection", inproc.exec},
		{"banger inspect VM (API only)", wall(*banger, "--host", d.Host(), "inspect", vm)},
		{"  in-process, as a session + exec request", inproc.sessionExec},
		{"static Go program start (floor)", wall(*helper, "noop")},
	}
	// Every case that reaches the guest follows one that does not, so none
	// starts while the guest still finishes the one before (its close,
	// the reaping).
	for range 3 { // warm-up: page cache, the daemon's first requests
		for _, c := range cases {
			if _, err := c.time(); err != nil {
				return err
			}
		}
	}
	got := make([]samples, len(cases))
	steps := map[string]samples{}
	var order []string
	for i := range *rounds {
		var line []string
		for j, c := range cases {
			v, err := c.time()
			if err != nil {
				return err
			}
			got[j] = append(got[j], v)
			line = append(line, fmt.Sprintf("%.1f", v))
		}
		t, err := timedExec(*banger, d.Host(), vm)
		if err != nil {
			return err
		}
		for _, k := range t.order {
			if _, seen := steps[k]; !seen {
				order = append(order, k)
			}
			steps[k] = append(steps[k], t.steps[k])
		}
		fmt.Printf("round %2d: %s ms\n", i+1, strings.Join(line, "  "))
	}
	spawn, err := guestSpawn(d, vm, *rounds*10)
	if err != nil {
		return err
	}

	fmt.Printf("\n%-38s %9s %9s\n", fmt.Sprintf("%d rounds (ms)", *rounds), "median", "p90")
	for j, c := range cases {
		fmt.Printf("%-42s %9.1f %9.1f\n", c.name, got[j].median(), got[j].p90())
	}
	fmt.Printf("%-42s %9.1f %9s   (mean of %d: the guest's clock may tick at 4 ms)\n", "guest: fork+exec+wait of /bin/true", spawn, "-", *rounds*10)
	printBreakdown(order, steps)
	exec, version, in, inspect, session := got[0].median(), got[1].median(), got[2].median(), got[3].median(), got[4].median()
	fmt.Printf("\nratios (medians): exec/version %.2fx  exec/inspect %.2fx  exec/in-process %.2fx  in-process/guest spawn %.2fx  in-process exec channel/session %.2fx\n",
		exec/version, exec/inspect, exec/in, in/spawn, in/session)
	verdict := "met"
	if exec >= TargetMS {
		verdict = "not met"
	}
	fmt.Printf("target: median banger exec < %d ms: %.1f ms, %s\n", TargetMS, exec, verdict)
	return nil
}

// guestSpawn runs the guest mode in the VM and returns its mean.
func guestSpawn(d *benchdaemon.Daemon, vm string, n int) (float64, error) {
	out, _, err := d.CLI("exec", vm, "/benchexec", "guest", fmt.Sprint(n))
	if err != nil {
		return 0, err
	}
	var mean float64
	if err := json.Unmarshal([]byte(out), &mean); err != nil {
		return 0, fmt.Errorf("guest said %q: %w", out, err)
	}
	return mean, nil
}

// printBreakdown prints the median of each step `exec --timings` reported.
func printBreakdown(order []string, steps map[string]samples) {
	if len(order) == 0 {
		fmt.Println("\n(this banger has no exec --timings: no breakdown)")
		return
	}
	fmt.Printf("\nbanger exec --timings, medians (ms): the CLI's steps, then the daemon's\n")
	for _, k := range order {
		fmt.Printf("  %-18s %7.2f   %s\n", k, steps[k].median(), stepHelp[k])
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
