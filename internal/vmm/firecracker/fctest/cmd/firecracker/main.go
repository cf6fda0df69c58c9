// Command firecracker is fctest's fake Firecracker: the contract server on
// the --api-sock socket, for tests on hosts without the real VMM.
package main

import (
	"os"

	"github.com/bangerdev/banger/internal/vmm/firecracker/fctest"
)

func main() { os.Exit(fctest.Main(os.Args[1:], os.Stdout, os.Stderr)) }
