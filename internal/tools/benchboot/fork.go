package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/tools/benchdaemon"
	"github.com/bangerdev/banger/pkg/api"
)

// forkCounter is the source's main process: it counts in /count.
const forkCounter = "i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.1; done"

// benchFork is `make bench-fork`: a running VM (its main process
// counting) is checkpointed once and n VMs are started from the
// checkpoint (`run -d --from`), each timed to its first working exec;
// side by side, n new VMs of the same image the ordinary way (restored
// from the boot snapshot) to their first exec, each removed after. Then the source's frozen
// time, and the VMM memory (RSS, PSS) of the n forks against the
// source's.
func (b *bench) benchFork(n int) error {
	src, err := b.cliOut("run", "-d", "--name", "fsrc", "bench", "sh", "-c", forkCounter)
	if err != nil {
		return err
	}
	if _, err := b.cli("run", "-d", "--name", "fwarm", "bench", "--", "sleep", "3600"); err != nil { // the boot snapshot exists after this
		return err
	}
	if _, err := b.cli("rm", "-f", "fwarm"); err != nil {
		return err
	}
	out, err := b.cliOut("checkpoint", "--name", "fck", "--format", "json", "fsrc")
	if err != nil {
		return err
	}
	var ck api.Checkpoint
	if err := json.Unmarshal([]byte(out), &ck); err != nil {
		return fmt.Errorf("checkpoint's JSON: %w: %q", err, out)
	}
	var forkT, newT []float64
	var forks []string
	for i := range n {
		name := "f" + strconv.Itoa(i+1)
		d, fid, err := b.toExec(name, "run", "-d", "--from", "fck", "--name", name)
		if err != nil {
			return err
		}
		forks, forkT = append(forks, fid), append(forkT, d)
		other := "n" + strconv.Itoa(i+1)
		e, _, err := b.toExec(other, "run", "-d", "--name", other, "bench", "--", "sleep", "3600")
		if err != nil {
			return err
		}
		newT = append(newT, e)
		if _, err := b.cli("rm", "-f", other); err != nil {
			return err
		}
		fmt.Printf("VM %2d: fork to first exec %.3fs   new VM (boot snapshot) to first exec %.3fs\n", i+1, d, e)
	}
	mf, mn := benchdaemon.Median(forkT), benchdaemon.Median(newT)
	fmt.Printf("\nrun -d --from CHECKPOINT, to a working exec   median %.3fs\n", mf)
	fmt.Printf("run -d IMG (restored boot snapshot), to exec   median %.3fs\n", mn)
	fmt.Printf("ratio fork/new %.2fx\n", mf/mn)
	fmt.Printf("the source was frozen %.0f ms for the checkpoint (%.1f MiB stored)\n\n", ck.FrozenMS, mib(ck.SizeBytes))
	return forkMemory(strings.TrimSpace(src), forks)
}

// toExec runs args (a detached run of VM name) and returns how long it
// took until `exec name -- true` answered, and the VM's id.
func (b *bench) toExec(name string, args ...string) (float64, string, error) {
	t0 := time.Now()
	id, err := b.cliOut(args...)
	if err != nil {
		return 0, "", err
	}
	if _, err := b.cli("exec", name, "--", "true"); err != nil {
		return 0, "", err
	}
	return secs(time.Since(t0)), strings.TrimSpace(id), nil
}

// forkMemory prints the VMM memory of the source (VM id sid) and of the
// forks (their ids), total.
func forkMemory(sid string, forks []string) error {
	srss, spss, err := vmmMemory(sid)
	if err != nil {
		return err
	}
	var rss, pss int64
	for _, fid := range forks {
		r, p, err := vmmMemory(fid)
		if err != nil {
			return err
		}
		rss, pss = rss+r, pss+p
	}
	n := float64(len(forks))
	fmt.Printf("VMM memory: the source RSS %.1f MiB PSS %.1f MiB; %d forks total RSS %.1f MiB PSS %.1f MiB (per fork RSS %.1f, PSS %.1f)\n",
		mib(srss), mib(spss), len(forks), mib(rss), mib(pss), mib(rss)/n, mib(pss)/n)
	return nil
}
