// Command benchbuild is `make bench-build`: a 5-step Dockerfile on the
// busybox image (three RUNs, a COPY, an ENV) built cold (--no-cache) and
// cached, several rounds, and the median time of a RUN step against
// `banger run --rm` of the same command — what a step costs beyond the
// VM it runs in (recording the files it boots, the disk copy, the diff,
// recording its result).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/tools/benchdaemon"
	"github.com/bangerdev/banger/pkg/api"
)

const dockerfile = `FROM %s
RUN echo one > /one
COPY file.txt /file.txt
RUN echo two > /two
ENV STEP=three
RUN echo $STEP > /three
`

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-build:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		banger = flag.String("banger", "bin/banger", "banger binary")
		kernel = flag.String("kernel-deb", "", "Debian linux-image .deb to import")
		image  = flag.String("image-tar", "", "busybox root file system tarball")
		rounds = flag.Int("rounds", 3, "timed rounds of each build")
	)
	flag.Parse()
	if *kernel == "" || *image == "" {
		return errors.New("need -kernel-deb and -image-tar")
	}
	base, stop, err := pushBase(*image)
	if err != nil {
		return err
	}
	defer stop()
	d, err := benchdaemon.Start(*banger, "bgd", 224, *kernel, *image)
	if err != nil {
		return err
	}
	defer d.Stop()
	dir, err := os.MkdirTemp("", "bench-build")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), fmt.Appendf(nil, dockerfile, base), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "file.txt"), []byte("payload\n"), 0o644); err != nil {
		return err
	}
	if _, _, err := d.CLI("image", "pull", base); err != nil {
		return err
	}
	if _, _, err := d.CLI("run", "--rm", base, "true"); err != nil { // warm-up
		return err
	}
	var cold, cached, runStep, runRm []float64
	for i := 0; i < *rounds; i++ {
		t0 := time.Now()
		res, err := build(d, dir, "--no-cache")
		if err != nil {
			return err
		}
		cold = append(cold, time.Since(t0).Seconds())
		for _, s := range res.Steps {
			if strings.HasPrefix(s.Instruction, "RUN ") {
				runStep = append(runStep, s.Seconds)
			}
		}
		t0 = time.Now()
		if res, err = build(d, dir); err != nil {
			return err
		}
		cached = append(cached, time.Since(t0).Seconds())
		for _, s := range res.Steps {
			if !s.Cached {
				return fmt.Errorf("the rebuild missed the cache at %q", s.Instruction)
			}
		}
		for _, cmd := range []string{"echo one > /one", "echo two > /two", "echo three > /three"} {
			t0 := time.Now()
			if _, _, err := d.CLI("run", "--rm", base, "/bin/sh", "-c", cmd); err != nil {
				return err
			}
			runRm = append(runRm, time.Since(t0).Seconds())
		}
	}
	m := benchdaemon.Median
	fmt.Printf("banger image build (wall clock, the CLI included), 5 steps (3 RUN), %d rounds:\n", *rounds)
	fmt.Printf("  cold (--no-cache)       median %6.2fs\n", m(cold))
	fmt.Printf("  cached (no change)      median %6.2fs\n", m(cached))
	fmt.Printf("one RUN step vs the same command alone:\n")
	fmt.Printf("  RUN step                median %6.2fs\n", m(runStep))
	fmt.Printf("  banger run --rm         median %6.2fs\n", m(runRm))
	fmt.Printf("  ratio RUN / run --rm    %6.2fx\n", m(runStep)/m(runRm))
	return nil
}

// build runs one build and answers its --format json result.
func build(d *benchdaemon.Daemon, dir string, flags ...string) (api.BuildResult, error) {
	args := append([]string{"image", "build", "-t", "bench-built", "--format", "json"}, flags...)
	out, _, err := d.CLI(append(args, dir)...)
	if err != nil {
		return api.BuildResult{}, err
	}
	var res api.BuildResult
	return res, json.Unmarshal([]byte(out), &res)
}

// pushBase serves the busybox tarball as an OCI image from a registry on
// loopback and answers its reference.
func pushBase(tarball string) (string, func(), error) {
	b, err := os.ReadFile(tarball)
	if err != nil {
		return "", nil, err
	}
	layer, err := rt.LayerFromTar(b, rt.Gzip)
	if err != nil {
		return "", nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = v1.Config{Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", nil, err
	}
	reg, err := rt.Serve("127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	ref, err := reg.PushImage("bench/busybox:1", img)
	if err != nil {
		reg.Close()
		return "", nil, err
	}
	return ref, reg.Close, nil
}
