// Command benchcontainerd is `make bench-containerd`: a banger daemon and
// a containerd of its own (containerdrun, as the e2e tests start it) whose
// banger runtime (containerd-shim-banger-v2) makes VMs on that daemon,
// with the same busybox root file system in both (imported into banger's
// catalog; pushed to an in-process registry and pulled with ctr). It
// times, rounds alternated, `ctr run --rm --runtime io.containerd.banger.v2
// IMG ID true` against `banger run --rm IMG -- true`, then N containers
// started back to back each way (`ctr run -d` vs `banger run -d`, to all
// of them running): containers per minute. With -mode cri it is `make
// bench-cri`: the containerd's CRI plugin on (containerdrun.CRIConfig,
// as TestCRI runs it) and N pods started back to back through crictl
// (cri.go) against N `banger run -d`. Everything it started is removed on
// the way out, on failure and on SIGINT/SIGTERM too; on failure the logs
// are kept and their directory printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/containershim"
	"github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/testutil/containerdrun"
	"github.com/bangerdev/banger/internal/tools/benchdaemon"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-containerd:", err)
		os.Exit(1)
	}
}

// bench is the two sides: the banger daemon and the containerd whose
// shim uses it (and crictl for it in CRI mode, else nil), the registry
// serving the image and its reference, the logs directory.
type bench struct {
	d    *benchdaemon.Daemon
	c    *containerdrun.Containerd
	cc   *containerdrun.Crictl
	reg  *registrytest.Registry
	ref  string
	logs string
	// net is the pods' CNI network (-cni); nil: host-network pods.
	net *podNet
}

func run() (err error) {
	var (
		banger     = flag.String("banger", "bin/banger", "banger binary")
		shimDir    = flag.String("shim-dir", "bin", "directory holding containerd-shim-banger-v2")
		ctrdDir    = flag.String("containerd-dir", "", "directory holding containerd and ctr (default: what scripts/containerd.sh built)")
		kernel     = flag.String("kernel-deb", "", "Debian linux-image .deb to import")
		image      = flag.String("image-tar", "", "root file system tarball: banger's image and containerd's")
		rounds     = flag.Int("rounds", 5, "timed rounds of each run --rm")
		throughput = flag.Int("n", 6, "containers (pods in CRI mode) started back to back each way")
		mode       = flag.String("mode", "ctr", "ctr: ctr run vs banger run; cri: pods through crictl vs banger run -d")
		crictl     = flag.String("crictl", "", "crictl binary in CRI mode (default: what scripts/crictl.sh built)")
		cni        = flag.String("cni", "", "CRI mode: directory of the CNI plugins (scripts/cni.sh); pods on a CNI bridge of the bench's own instead of the host's network")
	)
	flag.Parse()
	if *kernel == "" || *image == "" {
		return errors.New("need -kernel-deb and -image-tar")
	}
	if *mode != "ctr" && *mode != "cri" {
		return fmt.Errorf("-mode %q: want ctr or cri", *mode)
	}
	if *cni != "" && *mode != "cri" {
		return errors.New("-cni applies to -mode cri only")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *ctrdDir == "" {
		wd, _ := os.Getwd()
		if *ctrdDir, err = containerdrun.BinDir(ctx, wd); err != nil {
			return err
		}
	}
	if *mode == "cri" && *crictl == "" {
		wd, _ := os.Getwd()
		if *crictl, err = containerdrun.CrictlBin(wd); err != nil {
			return err
		}
	}
	shim, err := filepath.Abs(*shimDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(shim, "containerd-shim-banger-v2")); err != nil {
		return fmt.Errorf("no containerd-shim-banger-v2 in %s: run make build", shim)
	}
	b := &bench{}
	if b.logs, err = os.MkdirTemp("", "bench-containerd-logs"); err != nil {
		return err
	}
	defer func() {
		if err == nil && ctx.Err() == nil {
			_ = os.RemoveAll(b.logs)
			return
		}
		if err == nil {
			err = ctx.Err()
		}
		fmt.Fprintf(os.Stderr, "bench-containerd: logs (containerd.log, daemon.log) kept in %s\n", b.logs)
	}()
	if b.d, err = benchdaemon.StartDetached(*banger, "bgc", 223, *kernel, *image); err != nil {
		return err
	}
	defer func() {
		if err != nil || ctx.Err() != nil {
			copyFile(filepath.Join(b.d.Root(), "daemon.log"), filepath.Join(b.logs, "daemon.log"))
		}
		b.d.Stop()
	}()
	defer func() {
		if b.reg != nil {
			b.reg.Close()
		}
	}()
	if err := b.startContainerd(ctx, *ctrdDir, shim, *image, *crictl, *cni); err != nil {
		return err
	}
	defer b.stopContainerd()
	if b.cc != nil {
		if err := b.warmUpCRI(ctx); err != nil {
			return err
		}
		return b.benchCRI(ctx, *throughput)
	}
	if err := b.warmUp(ctx); err != nil {
		return err
	}
	if *rounds > 0 {
		if err := b.benchRun(ctx, *rounds); err != nil {
			return err
		}
	}
	if *throughput > 0 {
		return b.benchThroughput(ctx, *throughput)
	}
	return nil
}

// startContainerd starts containerd (its log in the logs directory) and
// pulls the image into it from an in-process registry serving imageTar
// (up until the end: under CRI the daemon pulls a container's image by
// its reference): with ctr, or, with crictlBin set, with its CRI plugin
// on, through crictl, with a pause image of the same tree pinned as its
// sandbox image (pushPause), and with cniDir set the pods on a CNI bridge
// network of the bench's own (plugins from cniDir).
func (b *bench) startContainerd(ctx context.Context, binDir, shimDir, imageTar, crictlBin, cniDir string) error {
	reg, ref, err := registrytest.ServeTarball(ctx, "127.0.0.1:0", imageTar, "bench/busybox:1")
	if err != nil {
		return err
	}
	b.reg, b.ref = reg, ref
	log, err := os.Create(filepath.Join(b.logs, "containerd.log"))
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()
	config := containerdrun.TaskConfig
	if crictlBin != "" {
		var n containerdrun.CNI
		if cniDir != "" {
			if b.net, n, err = newPodNet(cniDir); err != nil {
				return err
			}
		}
		pause, err := pushPause(reg, imageTar)
		if err != nil {
			return err
		}
		config = containerdrun.CRIConfigCNI(pause, n)
	}
	if b.c, err = containerdrun.StartWith(ctx, binDir, shimDir, b.d.Host(), log, config); err != nil {
		return err
	}
	if crictlBin == "" {
		if out, errOut, code := b.c.Ctr(ctx, "images", "pull", "--plain-http", ref); code != 0 {
			return fmt.Errorf("ctr images pull %s: exit %d\n%s%s", ref, code, out, errOut)
		}
		return nil
	}
	if b.cc, err = b.c.Crictl(crictlBin); err != nil {
		return err
	}
	_, err = b.crictl(ctx, "pull", ref)
	return err
}

// stopContainerd removes every container (its task first: the shim
// removes the VM) and stops containerd; it runs after a SIGINT too, so
// its own context is fresh.
func (b *bench) stopContainerd() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if b.cc != nil {
		b.removePods(ctx)
	}
	out, _, _ := b.c.Ctr(ctx, "containers", "ls", "-q")
	b.removeContainers(ctx, strings.Fields(out))
	b.c.Stop()
	b.net.remove()
}

// removeContainers kills and deletes the tasks of ids and the containers.
func (b *bench) removeContainers(ctx context.Context, ids []string) {
	for _, id := range ids {
		_, _, _ = b.c.Ctr(ctx, "task", "kill", "--signal", "SIGKILL", id)
		_, _, _ = b.c.Ctr(ctx, "task", "rm", "-f", id)
		_, _, _ = b.c.Ctr(ctx, "containers", "rm", id)
	}
}

// warmUp runs one container each way untimed: the shim's first container
// of the image imports its root file system into banger (reused after),
// and both sides' boot snapshots are made.
func (b *bench) warmUp(ctx context.Context) error {
	if err := b.ctrRunRm(ctx, "warm-up"); err != nil {
		return err
	}
	return b.bangerRunRm(ctx)
}

// warmUpCRI starts one pod and removes it, and runs one banger run --rm,
// untimed, for what warmUp says.
func (b *bench) warmUpCRI(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "bench-cri")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	_, cid, err := b.startPod(ctx, dir, "warm-up")
	if err == nil {
		err = b.waitPods(ctx, []string{cid})
	}
	b.removePods(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	return b.bangerRunRm(ctx)
}

// ctrRunRm is `ctr run --rm --runtime io.containerd.banger.v2 IMG id true`.
func (b *bench) ctrRunRm(ctx context.Context, id string) error {
	if out, errOut, code := b.c.Ctr(ctx, "run", "--rm", "--runtime", containershim.RuntimeName, b.ref, id, "true"); code != 0 {
		return fmt.Errorf("ctr run --rm %s: exit %d\n%s%s", id, code, out, errOut)
	}
	return nil
}

// bangerRunRm is `banger run --rm bench -- true`.
func (b *bench) bangerRunRm(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, _, err := b.d.CLI("run", "--rm", "bench", "--", "true")
	return err
}

// copyFile copies src to dst as well as it can (a log kept on failure).
func copyFile(src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		return
	}
	defer func() { _ = in.Close() }()
	out, err := os.Create(dst)
	if err != nil {
		return
	}
	_, _ = io.Copy(out, in)
	_ = out.Close()
}
