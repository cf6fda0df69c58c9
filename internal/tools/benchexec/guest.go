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

// guest is the program's mode inside the VM: `guest N` times N
// fork+exec+wait of /bin/true, the way the agent starts a command (Go's
// os/exec, stdio on pipes), and prints the milliseconds as a JSON array.
func guest(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: guest N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return errors.New("guest N: want a positive number")
	}
	out := make([]float64, 0, n)
	for range n {
		cmd := exec.CommandContext(context.Background(), "/bin/true")
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return err
		}
		out = append(out, ms(time.Since(t0)))
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
