package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
)

// TestConcurrentCreateRemove runs 50 create-then-rm pairs at once against
// the daemon (in this process, so -race watches it): every create gets its
// own id and name, every record is listed exactly once while it exists,
// every rm succeeds, and nothing of any of them is left.
func TestConcurrentCreateRemove(t *testing.T) {
	f := env(t)
	const n = 50
	ids := make([]string, n)
	created := make(chan struct{})
	var listed string
	var made sync.WaitGroup
	made.Add(n)
	results := parallel(t, n, 2*time.Minute, func(i int) error {
		out, errOut, code := f.cli(nil, "create", "--name", fmt.Sprintf("conc%02d", i), "busybox", "--", "true")
		made.Done()
		if code != 0 {
			return fmt.Errorf("create: exit %d: %s", code, errOut)
		}
		// create prints the name; the id is in the record.
		js, errOut, code := f.cli(nil, "inspect", strings.TrimSpace(out), "--format", "json")
		var vms []api.VM
		if err := json.Unmarshal([]byte(js), &vms); code != 0 || err != nil || len(vms) != 1 {
			return fmt.Errorf("inspect %s: exit %d: %d VMs, %w: %s", out, code, len(vms), err, errOut)
		}
		ids[i] = vms[0].ID
		// Half the removals race the other creates; half wait for all.
		if i%2 == 0 {
			<-created
		}
		if _, errOut, code := f.cli(nil, "rm", ids[i]); code != 0 {
			return fmt.Errorf("rm %s: exit %d: %s", ids[i], code, errOut)
		}
		return nil
	}, func() {
		// Every create has answered; the even ones are not removed yet.
		made.Wait()
		listed, _, _ = f.cli(nil, "ps", "-a", "--format", "json")
		close(created)
	})
	ok := report(t, "create+rm", results)
	var during []api.VM
	if err := json.Unmarshal([]byte(listed), &during); err != nil {
		t.Fatalf("ps -a while the creates were done: %v\n%s", err, listed)
	}
	names := map[string]int{}
	for _, vm := range during {
		names[vm.Name]++
	}
	for i := 0; i < n; i += 2 {
		if name := fmt.Sprintf("conc%02d", i); ids[i] != "" && names[name] != 1 {
			t.Errorf("vm %s (%s) listed %d times while it existed", name, ids[i], names[name])
		}
	}
	seen := map[string]int{}
	for _, id := range ids {
		if id != "" {
			seen[id]++
		}
	}
	for id, c := range seen {
		if c > 1 {
			t.Errorf("id %s handed out %d times", id, c)
		}
	}
	if len(seen) != ok {
		t.Errorf("%d distinct ids for %d successful creates", len(seen), ok)
	}
	for _, vm := range psAll(t, f) {
		if strings.HasPrefix(vm.Name, "conc") {
			t.Errorf("vm %s (%s) left after its rm", vm.Name, vm.ID)
		}
	}
	for id := range seen {
		f.assertNoTrace(t, id)
	}
}

// TestConcurrentRunRm boots 20 VMs at once with `run --rm` (small: one
// CPU, 128MiB): each must print what its command printed and exit 0, or
// fail with an error; afterwards no record, host object or orphan of any
// is left. A deadlock fails the test with every goroutine's stack.
func TestConcurrentRunRm(t *testing.T) {
	f := env(t)
	const n = 20
	began := time.Now()
	results := parallel(t, n, 10*time.Minute, func(i int) error {
		want := fmt.Sprintf("vm %d", i)
		out, errOut, code := f.cli(nil, "run", "--rm", "--cpus", "1", "--memory", "128M", "--name", fmt.Sprintf("crun%02d", i), "busybox", "--", "echo", want)
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, errOut)
		}
		if out != want+"\n" {
			return fmt.Errorf("stdout %q, want %q", out, want+"\n")
		}
		return nil
	}, nil)
	ok := report(t, "run --rm", results)
	t.Logf("%d concurrent run --rm: %d succeeded in %.1fs", n, ok, time.Since(began).Seconds())
	fmt.Printf("concurrent run --rm: %d of %d succeeded (%.0fs)\n", ok, n, time.Since(began).Seconds())
	for _, vm := range psAll(t, f) {
		if strings.HasPrefix(vm.Name, "crun") {
			t.Errorf("vm %s (%s, %s) left by run --rm", vm.Name, vm.ID, vm.State)
		}
	}
	f.assertNoOrphans(t)
}

// parallel runs fn(0..n-1) at once, then runs then (if not nil) while
// they do, and returns their errors. When all this is not done within
// timeout the test binary dies with the stacks of every goroutine (the
// daemon's included): a deadlock shows where it waits.
func parallel(t *testing.T, n int, timeout time.Duration, fn func(i int) error, then func()) []error {
	t.Helper()
	watchdog := time.AfterFunc(timeout, func() {
		fmt.Fprintf(os.Stderr, "%s: %d concurrent operations not done after %v: deadlock? every goroutine:\n", t.Name(), n, timeout)
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		panic(t.Name() + ": deadlock")
	})
	defer watchdog.Stop()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	if then != nil {
		then()
	}
	wg.Wait()
	return errs
}

// report logs every failure (a failure must be a clean error: an exit
// code and a message, which the CLI gives) and returns the successes.
func report(t *testing.T, what string, errs []error) int {
	t.Helper()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		t.Errorf("%s #%d: %v", what, i, err)
	}
	t.Logf("%s: %d of %d succeeded", what, ok, len(errs))
	return ok
}

func psAll(t *testing.T, f *fixture) []api.VM {
	t.Helper()
	var vms []api.VM
	out := f.must(t, "ps", "-a", "--format", "json")
	if err := json.Unmarshal([]byte(out), &vms); err != nil {
		t.Fatal(err)
	}
	return vms
}
