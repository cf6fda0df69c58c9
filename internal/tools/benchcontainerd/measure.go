package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/containershim"
	"github.com/bangerdev/banger/internal/tools/benchdaemon"
)

// benchRun times rounds of `ctr run --rm` against `banger run --rm`,
// interleaved, the first of each round alternating, and prints each
// round, medians, min/max and the ratio ctr/banger.
func (b *bench) benchRun(ctx context.Context, rounds int) error {
	var ctrT, bangerT []float64
	for i := range rounds {
		ctrSide := func() error {
			t, err := timed(func() error { return b.ctrRunRm(ctx, fmt.Sprintf("bench-%d", i+1)) })
			ctrT = append(ctrT, t)
			return err
		}
		bangerSide := func() error {
			t, err := timed(func() error { return b.bangerRunRm(ctx) })
			bangerT = append(bangerT, t)
			return err
		}
		order := []func() error{ctrSide, bangerSide}
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, side := range order {
			if err := side(); err != nil {
				return err
			}
		}
		fmt.Printf("round %d: ctr run --rm %.3fs  banger run --rm %.3fs\n", i+1, ctrT[i], bangerT[i])
	}
	mc, mb := benchdaemon.Median(ctrT), benchdaemon.Median(bangerT)
	fmt.Printf("\nctr run --rm --runtime %s IMG ID true   median %.3fs  min %.3fs  max %.3fs\n", containershim.RuntimeName, mc, slices.Min(ctrT), slices.Max(ctrT))
	fmt.Printf("banger run --rm IMG -- true                                 median %.3fs  min %.3fs  max %.3fs\n", mb, slices.Min(bangerT), slices.Max(bangerT))
	fmt.Printf("ratio ctr/banger %.2fx\n\n", mc/mb)
	return nil
}

// benchThroughput starts n containers back to back each way, timed from
// the first start to all n running, and prints containers per minute and
// the ratio ctr/banger (above 1: containerd starts them faster).
func (b *bench) benchThroughput(ctx context.Context, n int) error {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("tp-%d", i+1)
	}
	ctrT, err := timed(func() error { return b.ctrStartAll(ctx, ids) })
	b.removeContainers(context.WithoutCancel(ctx), ids)
	if err != nil {
		return err
	}
	fmt.Printf("%d x ctr run -d ... sleep 300, to all RUNNING      %.3fs\n", n, ctrT)
	return b.bangerThroughput(ctx, ids, "containers", "ctr", ctrT)
}

// bangerThroughput starts ids with `banger run -d` back to back (to all
// running), removes them, and prints the time, what per minute each way
// (the other side, other, took otherT seconds for as many) and the ratio
// other/banger (above 1: the other side starts them faster).
func (b *bench) bangerThroughput(ctx context.Context, ids []string, what, other string, otherT float64) error {
	bangerT, err := timed(func() error { return b.bangerStartAll(ctx, ids) })
	_, _, _ = b.d.CLI(append([]string{"rm", "-f"}, ids...)...)
	if err != nil {
		return err
	}
	fmt.Printf("%d x banger run -d IMG -- sleep 300, to all running  %.3fs\n", len(ids), bangerT)
	po, pb := perMinute(len(ids), otherT), perMinute(len(ids), bangerT)
	fmt.Printf("\n%s per minute: %s %.1f  banger %.1f  ratio %s/banger %.2fx\n", what, other, po, pb, other, po/pb)
	return nil
}

// ctrStartAll runs `ctr run -d` for each id in turn, then waits until
// `ctr task ls` shows every one RUNNING.
func (b *bench) ctrStartAll(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if out, errOut, code := b.c.Ctr(ctx, "run", "-d", "--runtime", containershim.RuntimeName, b.ref, id, "sleep", "300"); code != 0 {
			return fmt.Errorf("ctr run -d %s: exit %d\n%s%s", id, code, out, errOut)
		}
	}
	return waitAll(ctx, ids, func() ([]string, error) {
		out, errOut, code := b.c.Ctr(ctx, "task", "ls")
		if code != 0 {
			return nil, fmt.Errorf("ctr task ls: exit %d\n%s", code, errOut)
		}
		var running []string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[2] == "RUNNING" {
				running = append(running, f[0])
			}
		}
		return running, nil
	})
}

// bangerStartAll runs `banger run -d --name id` for each id in turn, then
// waits until `banger ps` lists every one running.
func (b *bench) bangerStartAll(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, _, err := b.d.CLI("run", "-d", "--name", id, "bench", "--", "sleep", "300"); err != nil {
			return err
		}
	}
	return waitAll(ctx, ids, func() ([]string, error) {
		out, _, err := b.d.CLI("ps", "--filter", "state=running", "--format", "{{.Name}}")
		return strings.Fields(out), err
	})
}

// waitAll polls list until it holds every id (2 minutes at most).
func waitAll(ctx context.Context, ids []string, list func() ([]string, error)) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got, err := list()
		if err != nil {
			return err
		}
		missing := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(got, id) })
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not running after 2 minutes", strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// timed runs f and returns how long it took, in seconds.
func timed(f func() error) (float64, error) {
	start := time.Now()
	err := f()
	return time.Since(start).Seconds(), err
}

// perMinute is n containers in secs as containers per minute.
func perMinute(n int, secs float64) float64 { return float64(n) / secs * 60 }
