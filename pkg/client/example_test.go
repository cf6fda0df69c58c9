package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// Run a command in a new VM, as `banger run --rm busybox sh -c '...'`
// does, and read its exit code.
func Example() {
	ctx := context.Background()
	c, err := client.FromEnv() // $BANGER_HOST, or the system daemon
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Run(ctx, client.RunConfig{
		Spec: api.VMSpec{
			Image:      "busybox",
			Cmd:        []string{"sh", "-c", "echo hello; exit 3"},
			AutoRemove: true,
		},
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit code:", res.ExitCode)
}

// Run a command in a running VM and read its output and exit code.
func ExampleClient_Exec() {
	ctx := context.Background()
	c, err := client.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code, err := c.Exec(ctx, "dev", client.ExecConfig{
		Cmd:    []string{"cat", "/etc/os-release"},
		Stdout: &stdout,
		Stderr: &stderr,
	})
	if errors.Is(err, errdefs.ErrNotFound) {
		log.Fatal("no VM named dev: ", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit %d\n%s", code, stdout.String())
}

// List every VM, running or not, that carries the label team=web.
func ExampleClient_ListVMs() {
	ctx := context.Background()
	c, err := client.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	vms, err := c.ListVMs(ctx, api.ListVMsQuery{All: true, Labels: []string{"team=web"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, vm := range vms {
		fmt.Println(vm.Name, vm.State)
	}
}

// Start a VM in the background, then wait for its main process to end.
func ExampleClient_WaitVM() {
	ctx := context.Background()
	c, err := client.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Run(ctx, client.RunConfig{
		Name: "job",
		Spec: api.VMSpec{Image: "busybox", Cmd: []string{"sh", "-c", "sleep 2; exit 7"}, Detach: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	vm, err := c.WaitVM(ctx, res.VM.ID)
	if err != nil {
		log.Fatal(err)
	}
	if vm.ExitCode != nil {
		fmt.Println("job exited with", *vm.ExitCode, vm.ExitSignal)
	}
	if err := c.RemoveVM(ctx, vm.ID, api.RemoveVMQuery{}); err != nil {
		log.Fatal(err)
	}
}

// Pull an image, printing each layer's progress.
func ExampleClient_PullImage() {
	ctx := context.Background()
	c, err := client.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	img, err := c.PullImage(ctx, api.PullRequest{Reference: "debian:bookworm"}, api.Watch{
		Progress: func(e progress.Event) {
			if e.Done() {
				fmt.Println(e.ID, e.Action)
			}
		},
		Message: func(s string) { fmt.Println(s) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Name, img.Digest)
}

// Tell a daemon that does not fit this client from other failures.
func ExampleVersionError() {
	c, err := client.New("unix:///run/banger/banger.sock")
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Info(context.Background())
	var mismatch *client.VersionError
	switch {
	case errors.As(err, &mismatch):
		log.Fatalf("client API %s, daemon API %s: %v", mismatch.Client, mismatch.Daemon.APIVersion, err)
	case errors.Is(err, errdefs.ErrUnavailable):
		log.Fatal("the daemon is not running: ", err)
	}
}

// Check the labels of a VM in hand; this one runs without a daemon.
func ExampleMatchLabels() {
	vm := api.VM{Name: "web-1", Spec: api.VMSpec{Labels: map[string]string{"team": "web", "tier": "front"}}}
	fmt.Println(client.MatchLabels(vm, map[string]string{"team": "web"}))
	fmt.Println(client.MatchLabels(vm, map[string]string{"team": "db"}))
	fmt.Println(client.MatchLabels(vm, nil))
	// Output:
	// true
	// false
	// true
}
