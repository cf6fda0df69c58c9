package containerdrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bangerdev/banger/internal/containershim"
)

// CrictlVersion is the crictl scripts/crictl.sh builds (it reads it
// here: bump it in this one place).
const CrictlVersion = "v1.37.0"

// CrictlBin is where scripts/crictl.sh put crictl under repoRoot:
// .tools/crictl-VERSION/crictl. It is an error when it is not there.
func CrictlBin(repoRoot string) (string, error) {
	bin := filepath.Join(repoRoot, ".tools", "crictl-"+CrictlVersion, "crictl")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("crictl %s not built in %s: run scripts/crictl.sh (make deps)", CrictlVersion, filepath.Dir(bin))
	}
	return bin, nil
}

// CRIConfig is a configuration for StartWith with the CRI plugin on
// (containerd 2.4, config version 4): pods on the runtime handler
// `banger` run on containerd-shim-banger-v2, the sandbox (pause) image is
// pinned to sandboxImage (a pod's VM runs it: its entrypoint must run
// until it is killed), and everything the plugin listens on or writes is the
// containerd's own: ttrpc and debug sockets beside its socket, a stream
// server on a free loopback port, CNI directories under dir, empty
// (host-network pods need none). AppArmor is off: the pods' processes
// are VMs.
func CRIConfig(sandboxImage string) func(dir, sock string) string {
	return CRIConfigCNI(sandboxImage, CNI{})
}

// CRIConfigCNI is CRIConfig whose pods (those not on the host's network)
// get their network from the CNI plugins and configuration n names; an
// empty field of n is a directory under dir.
func CRIConfigCNI(sandboxImage string, n CNI) func(dir, sock string) string {
	return func(dir, sock string) string {
		if n.BinDir == "" {
			n.BinDir = filepath.Join(dir, "cni")
		}
		if n.ConfDir == "" {
			n.ConfDir = filepath.Join(dir, "cni")
		}
		return fmt.Sprintf(`version = 4
root = %[1]q
state = %[2]q
[plugins.'io.containerd.server.v1.grpc']
  address = %[3]q
[plugins.'io.containerd.server.v1.ttrpc']
  address = "%[3]s.ttrpc"
[plugins.'io.containerd.server.v1.debug']
  address = "%[3]s.debug"
[plugins.'io.containerd.internal.v1.opt']
  path = %[4]q
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[5]q
[plugins.'io.containerd.cri.v1.runtime']
  disable_apparmor = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.banger]
    runtime_type = %[6]q
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%[7]q]
    conf_dir = %[8]q
[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, filepath.Join(dir, "opt"),
			sandboxImage, containershim.RuntimeName, n.BinDir, n.ConfDir)
	}
}

// Crictl is crictl (at Bin) configured (Config) for one containerd.
type Crictl struct{ Bin, Config string }

// Crictl writes a crictl configuration for c into c's directory and
// answers crictl at bin using it. Its timeout is 300 s: crictl's default
// of 2 s per request is shorter than a VM's boot.
func (c *Containerd) Crictl(bin string) (*Crictl, error) {
	config := filepath.Join(c.Dir, "crictl.yaml")
	yaml := fmt.Sprintf("runtime-endpoint: unix://%[1]s\nimage-endpoint: unix://%[1]s\ntimeout: 300\n", c.Sock)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	return &Crictl{Bin: bin, Config: config}, nil
}

// Run runs crictl: its stdout, stderr and exit code (-1 when it did not
// run or was killed).
func (c *Crictl) Run(ctx context.Context, args ...string) (string, string, int) {
	return run(ctx, c.Bin, append([]string{"--config", c.Config}, args...))
}
