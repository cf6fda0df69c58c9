package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// guest is the program's mode inside the VM: `guest N` runs N
// fork+exec+wait of /bin/true, the way the agent starts a command (Go's
// os/exec), and prints the mean in milliseconds as JSON. One clock read
// around all N: a guest without a usable TSC (TCG's microvm keeps time by
// jiffies) has a 4 ms clock, so single spawns cannot be timed there.
func guest(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: guest N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return errors.New("guest N: want a positive number")
	}
	t0 := time.Now()
	for range n {
		if err := exec.CommandContext(context.Background(), "/bin/true").Run(); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(ms(time.Since(t0)) / float64(n))
}
