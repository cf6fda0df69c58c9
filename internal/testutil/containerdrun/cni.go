package containerdrun

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// CNIPluginsVersion is the release of github.com/containernetworking/plugins
// scripts/cni.sh builds (it reads it here: bump it in this one place).
const CNIPluginsVersion = "v1.10.0"

// CNIBinDir is where scripts/cni.sh put the CNI plugins under repoRoot:
// .tools/cni-VERSION. It is an error when one is not there.
func CNIBinDir(repoRoot string) (string, error) {
	dir := filepath.Join(repoRoot, ".tools", "cni-"+CNIPluginsVersion)
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return "", fmt.Errorf("CNI plugin %s %s not built in %s: run scripts/cni.sh (make deps)", p, CNIPluginsVersion, dir)
		}
	}
	return dir, nil
}

// CNI is the pod network of a CRI containerd: its plugins in BinDir and
// its configuration in ConfDir (WriteBridge writes one). The zero CNI
// leaves both under the containerd's directory, empty: host-network
// pods need none.
type CNI struct{ BinDir, ConfDir string }

// Bridge is a CNI network of one Linux bridge on the host, a gateway
// address on it, and pods' addresses from a /24 (host-local IPAM, its
// leases under IPAMDir). Name, Bridge and Subnet are the caller's own: a
// test picks ones no other test or host network uses.
type Bridge struct {
	Name, Bridge, Subnet, IPAMDir string
}

// Conflist is b as a CNI configuration list (CNI 1.0.0): the bridge
// plugin as the pods' gateway, no masquerade (traffic stays between the
// host and the pods), and loopback.
func (b Bridge) Conflist() ([]byte, error) {
	type obj = map[string]any
	return json.MarshalIndent(obj{
		"cniVersion": "1.0.0",
		"name":       b.Name,
		"plugins": []obj{
			{
				"type": "bridge", "bridge": b.Bridge, "isGateway": true, "ipMasq": false,
				"ipam": obj{"type": "host-local", "ranges": [][]obj{{{"subnet": b.Subnet}}}, "dataDir": b.IPAMDir},
			},
			{"type": "loopback"},
		},
	}, "", "  ")
}

// WriteBridge writes b's configuration list into confDir, where a
// containerd of CRIConfigCNI(…, CNI{ConfDir: confDir}) loads it.
func WriteBridge(confDir string, b Bridge) error {
	data, err := b.Conflist()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(confDir, "10-"+b.Name+".conflist"), data, 0o644) //nolint:gosec // read by containerd
}
