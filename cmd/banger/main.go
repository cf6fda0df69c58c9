// Command banger is the banger CLI; `banger daemon` runs the daemon.
package main

import (
	"os"

	"github.com/bangerdev/banger/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
