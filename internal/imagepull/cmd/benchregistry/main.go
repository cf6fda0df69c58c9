// Command benchregistry serves one image built from a root file system
// tarball on a loopback registry, for `make bench-image`:
//
//	benchregistry -tar minbase.tar -repo bench/minbase:latest
//
// It prints the image's reference, then serves until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/bangerdev/banger/internal/imagepull/registrytest"
)

func main() {
	tarball := flag.String("tar", "", "root file system tarball (the image's one layer)")
	repo := flag.String("repo", "bench/minbase:latest", "repository and tag to serve it as")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (loopback)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reg, ref, err := registrytest.ServeTarball(ctx, *addr, *tarball, *repo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchregistry:", err)
		os.Exit(1)
	}
	defer reg.Close()
	fmt.Println(ref)
	<-ctx.Done()
}
