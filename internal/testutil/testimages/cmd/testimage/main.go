// Command testimage makes the test root file systems for scripts (the demo
// and the image benchmark):
//
//	testimage busybox OUT.tar     the busybox system, from /bin/busybox
//	testimage minbase CACHEDIR    prints the path of the cached minbase tarball
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/bangerdev/banger/internal/testutil/testimages"
)

func main() {
	if err := testimages.Main(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "testimage:", err)
		os.Exit(1)
	}
}
