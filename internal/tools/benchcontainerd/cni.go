package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/containerdrun"
)

// cniOctet is the second octet of the bench's CNI bridge subnet: apart
// from the bench daemon's (223) and the tests' (221); its /24 is one no
// route covers yet (another bench's daemon may use 10.224 too).
const cniOctet = 224

// podNet is the pod network of a bench in CRI mode with -cni: a CNI
// bridge of its own (named from the bench's pid, on a free /24) whose
// configuration and IPAM leases live in dir.
type podNet struct {
	dir string
	br  containerdrun.Bridge
}

// newPodNet writes the bench's bridge configuration into a new directory
// and answers the CNI settings of its containerd.
func newPodNet(pluginDir string) (*podNet, containerdrun.CNI, error) {
	dir, err := os.MkdirTemp("", "bench-cni")
	if err != nil {
		return nil, containerdrun.CNI{}, err
	}
	name := fmt.Sprintf("bgbench%d", os.Getpid()%100000)
	n := &podNet{dir: dir, br: containerdrun.Bridge{
		Name: name, Bridge: name, IPAMDir: filepath.Join(dir, "ipam"),
		Subnet: testutil.FreeSubnet(cniOctet),
	}}
	conf := filepath.Join(dir, "conf")
	if err := containerdrun.WriteBridge(conf, n.br); err != nil {
		n.remove()
		return nil, containerdrun.CNI{}, err
	}
	return n, containerdrun.CNI{BinDir: pluginDir, ConfDir: conf}, nil
}

// remove deletes the bridge (the bridge plugin leaves it when the last
// pod goes) and the directory.
func (n *podNet) remove() {
	if n == nil {
		return
	}
	_ = exec.Command("ip", "link", "del", n.br.Bridge).Run() //nolint:noctx // cleanup
	_ = os.RemoveAll(n.dir)
}
