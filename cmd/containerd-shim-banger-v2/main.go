// Command containerd-shim-banger-v2 is banger's containerd runtime shim
// (io.containerd.banger.v2); see package containershim.
package main

import "github.com/bangerdev/banger/internal/containershim"

func main() { containershim.Main() }
