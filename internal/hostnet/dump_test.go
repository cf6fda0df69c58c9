package hostnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/bangerdev/banger/internal/testutil"
)

// Links come and go while the daemon reads the host's state (concurrent
// runs make and remove taps): the kernel then interrupts the link dump,
// and state reads it again instead of failing the VM's start. In a
// namespace of the test's own with 300 links and a veth pair churning.
func TestStateSurvivesInterruptedDumps(t *testing.T) {
	testutil.RequireRoot(t)
	o := &outside{ns: fmt.Sprintf("bgtd%d", os.Getpid()%100000)}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", o.ns).Run() }) //nolint:noctx // cleanup
	run(t, "ip", "netns", "add", o.ns)
	var batch strings.Builder
	for i := range 150 {
		fmt.Fprintf(&batch, "link add v%d type veth peer name w%d\n", i, i)
	}
	cmd := exec.Command("ip", "-n", o.ns, "-batch", "-") //nolint:noctx // bounded by the test
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make links: %v: %s", err, out)
	}
	stop := make(chan struct{})
	churned := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				churned <- nil
				return
			default:
			}
			for _, args := range [][]string{{"add", "churn", "type", "veth", "peer", "name", "churnp"}, {"del", "churn"}} {
				if out, err := exec.Command("ip", append([]string{"-n", o.ns, "link"}, args...)...).CombinedOutput(); err != nil { //nolint:noctx // bounded by the test
					churned <- fmt.Errorf("%s: %w: %s", args[0], err, out)
					return
				}
			}
		}
	}()
	var interrupted, failed atomic.Int64
	var firstErr error
	err := o.in(func() error {
		for range 150 {
			if _, err := (netlinkEdge{}).stateOnce(context.Background(), "none"); errors.Is(err, netlink.ErrDumpInterrupted) {
				interrupted.Add(1)
			}
			if _, err := (netlinkEdge{}).state(context.Background(), "none"); err != nil {
				failed.Add(1)
				firstErr = err
			}
		}
		return nil
	})
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-churned; err != nil {
		t.Fatal(err)
	}
	t.Logf("150 reads each: a single dump was interrupted %d times; state failed %d times", interrupted.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("state failed %d of 150 reads while links changed: %v", failed.Load(), firstErr)
	}
}
