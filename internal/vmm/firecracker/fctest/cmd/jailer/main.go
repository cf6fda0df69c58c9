// Command jailer is fctest's fake Firecracker jailer (see
// fctest.JailerMain).
package main

import (
	"os"

	"github.com/bangerdev/banger/internal/vmm/firecracker/fctest"
)

func main() { os.Exit(fctest.JailerMain(os.Args[1:], os.Stdout, os.Stderr)) }
