// Package benchdaemon runs a throwaway banger daemon for the benchmarks
// (`make bench-*`): its own --root, bridge, subnet and nftables table, so
// it never meets a real daemon or another benchmark, and nothing of it is
// left once Stop returns.
package benchdaemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Daemon is a running banger daemon and the CLI that talks to it.
type Daemon struct {
	banger, root, host string
	bridge, table      string
	cmd                *exec.Cmd
}

// Start runs `banger daemon` on a new temporary --root with a network of
// its own: a bridge named prefix + a tag and a /24 in 10.<octet>.0.0/16.
// Once the daemon answers, it imports kernelDeb as the default kernel and
// imageTar as the image, both named "bench".
func Start(banger, prefix string, octet int, kernelDeb, imageTar string) (*Daemon, error) {
	return startDaemon(banger, prefix, octet, kernelDeb, imageTar, false)
}

// StartDetached is Start with the daemon in a process group of its own:
// a terminal's Ctrl-C does not reach it, so a benchmark that catches the
// signal can still remove its VMs through it before Stop.
func StartDetached(banger, prefix string, octet int, kernelDeb, imageTar string) (*Daemon, error) {
	return startDaemon(banger, prefix, octet, kernelDeb, imageTar, true)
}

func startDaemon(banger, prefix string, octet int, kernelDeb, imageTar string, detached bool) (*Daemon, error) {
	root, err := os.MkdirTemp("", prefix+"bench")
	if err != nil {
		return nil, err
	}
	d, err := start(banger, root, prefix, octet, detached)
	if err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	for _, args := range [][]string{
		{"kernel", "import", kernelDeb, "--name", "bench", "--default"},
		{"image", "import", imageTar, "--name", "bench"},
	} {
		if _, _, err := d.CLI(args...); err != nil {
			d.Stop()
			return nil, err
		}
	}
	return d, nil
}

func start(banger, root, prefix string, octet int, detached bool) (*Daemon, error) {
	tag := fmt.Sprintf("%04x", os.Getpid()&0xffff)
	d := &Daemon{banger: banger, root: root, host: "unix://" + filepath.Join(root, "run", "banger.sock"),
		bridge: prefix + tag, table: "bangerbench_" + prefix + tag}
	cfg := filepath.Join(root, "config.toml")
	conf := fmt.Sprintf("[network]\nbridge = %q\nsubnet = \"10.%d.%d.0/24\"\nnft_table = %q\n", d.bridge, octet, os.Getpid()%250, d.table)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	// As an install does: the user QEMU runs as, and the directories. A
	// build from before `banger setup` (BANGER=old) needs none.
	if out, err := exec.CommandContext(context.Background(), banger, "setup", "--root", root, "--config", cfg).CombinedOutput(); err != nil && !strings.Contains(string(out), "unknown command") {
		return nil, fmt.Errorf("banger setup: %w: %s", err, out)
	}
	log, err := os.Create(filepath.Join(root, "daemon.log"))
	if err != nil {
		return nil, err
	}
	d.cmd = exec.CommandContext(context.Background(), banger, "daemon", "--root", root, "--config", cfg)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: detached}
	err = d.cmd.Start()
	_ = log.Close()
	if err != nil {
		return nil, err
	}
	for range 200 {
		if _, _, err := d.CLI("info"); err == nil {
			return d, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.stopDaemon()
	return nil, fmt.Errorf("the daemon on %s did not answer within 10s; its log is %s", root, filepath.Join(root, "daemon.log"))
}

// Stop removes every VM a benchmark left (a failed round, forks it kept
// for their memory), collects what is left, ends the daemon, removes the
// bridge and table it leaves for VMs that outlive it and the root.
func (d *Daemon) Stop() {
	if out, _, err := d.CLI("ps", "-a", "-q"); err == nil {
		if ids := strings.Fields(out); len(ids) > 0 {
			_, _, _ = d.CLI(append([]string{"rm", "-f"}, ids...)...)
		}
	}
	_, _, _ = d.CLI("gc")
	d.stopDaemon()
	_ = os.RemoveAll(d.root)
}

func (d *Daemon) stopDaemon() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	_ = d.cmd.Wait()
	_ = exec.CommandContext(context.Background(), "ip", "link", "del", d.bridge).Run()
	for _, family := range []string{"inet", "bridge"} {
		_ = exec.CommandContext(context.Background(), "nft", "delete", "table", family, d.table).Run()
	}
}

// Host is the daemon's address for --host: unix:///ROOT/run/banger.sock.
func (d *Daemon) Host() string { return d.host }

// Root is the daemon's --root, removed by Stop.
func (d *Daemon) Root() string { return d.root }

// CLI runs banger against the daemon and returns its stdout and stderr;
// a non-zero exit is an error that quotes stderr.
func (d *Daemon) CLI(args ...string) (string, string, error) {
	cmd := exec.CommandContext(context.Background(), d.banger, append([]string{"--host", d.host}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), errb.String(), fmt.Errorf("banger %s: %w\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String(), nil
}

// Median is the median of v (0 when empty).
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
