package process

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// zombieChildren counts zombie processes whose parent is this process.
func zombieChildren(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n, me := 0, strconv.Itoa(os.Getpid())
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[0] == "Z" && f[1] == me {
			n++
		}
	}
	return n
}

// The reaper reaps orphans re-parented to us while every tracked child's
// Wait still gets its own exit status (no ECHILD from a stolen zombie).
func TestReaperReapsOrphansButNotTrackedChildren(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a subreaper: %v", err)
	}
	r := NewReaper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			// Each child leaves an orphan behind and exits with its own code.
			cmd := exec.Command("/bin/sh", "-c", "sleep 0.05 & exit "+strconv.Itoa(i%7))
			if err := r.Start(cmd); err != nil {
				errs <- err
				return
			}
			err := r.Wait(cmd)
			var ee *exec.ExitError
			switch {
			case i%7 == 0 && err != nil:
				errs <- err
			case i%7 != 0 && (!errors.As(err, &ee) || ee.ExitCode() != i%7):
				errs <- errors.New("child " + strconv.Itoa(i) + ": " + errString(err))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for zombieChildren(t) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// Orphans are re-parented to us; give the sleeps time to end and be reaped.
	time.Sleep(200 * time.Millisecond)
	for zombieChildren(t) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := zombieChildren(t); n != 0 {
		t.Fatalf("%d zombies left unreaped", n)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func TestNilReaperIsPlainExec(t *testing.T) {
	var r *Reaper
	cmd := exec.Command("/bin/sh", "-c", "exit 3")
	if err := r.Start(cmd); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := r.Wait(cmd); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Wait = %v", err)
	}
}
