package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/pkg/api"
)

// hostKeyAlias names the daemon's host key in known_hosts: every VM is
// reached through the daemon, which presents that one key.
const hostKeyAlias = "banger-daemon"

func newSSHConfigCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "ssh-config [VM...]",
		Short: "Print an OpenSSH config that reaches VMs by name (ssh, scp, rsync, editors)",
		Long: `Print OpenSSH Host entries for the given VMs (default: every VM) with a
ProxyCommand through banger, so OpenSSH's ssh, scp and sftp, rsync and
editors' remote plugins reach a VM by its name — no sshd in the image. The
daemon's host key is written to banger's known_hosts file and pinned.`,
		Example: `  banger ssh-config >> ~/.ssh/config
  ssh dev uname -a
  rsync -a ./src/ dev:/srv/src/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			names := args
			if len(names) == 0 {
				vms, err := api.Do(cmd.Context(), c, api.ListVMs, api.ListVMsQuery{All: true})
				if err != nil {
					return err
				}
				for _, vm := range vms {
					names = append(names, vm.Name)
				}
			}
			info, err := api.Do(cmd.Context(), c, api.GetInfo, api.None{})
			if err != nil {
				return err
			}
			key, err := agentclient.ParsePublicKey(info.ProxyHostKey)
			if err != nil {
				return err
			}
			kh, err := writeKnownHosts(key)
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(app.Stdout, sshConfig(names, self, "unix://"+c.Socket(), kh))
			return err
		},
	}
}

// sshConfig renders the Host entries. The client authenticates with
// nothing ("none"): reaching the daemon's socket is the authorization.
func sshConfig(names []string, banger, host, knownHosts string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "Host %s %s.banger\n", n, n)
		fmt.Fprintf(&b, "  HostName %s\n", n)
		b.WriteString("  User root\n")
		fmt.Fprintf(&b, "  ProxyCommand %s --host %s proxy %s\n", quoteSSH(banger), host, n)
		fmt.Fprintf(&b, "  HostKeyAlias %s\n", hostKeyAlias)
		fmt.Fprintf(&b, "  UserKnownHostsFile %s\n", quoteSSH(knownHosts))
		b.WriteString("  StrictHostKeyChecking yes\n")
		b.WriteString("  PreferredAuthentications none,publickey\n")
		b.WriteString("  LogLevel ERROR\n\n")
	}
	return b.String()
}

func quoteSSH(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}

// writeKnownHosts writes the daemon's host key, under its alias, to
// banger's known_hosts in the user's config dir, and returns the path.
func writeKnownHosts(key ssh.PublicKey) (string, error) {
	dir, err := paths.UserConfigDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "known_hosts")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("write known_hosts: %w", err)
	}
	line := []byte(hostKeyAlias + " " + string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(key))) + "\n")
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, line) {
		return p, nil
	}
	if err := os.WriteFile(p, line, 0o600); err != nil {
		return "", fmt.Errorf("write known_hosts: %w", err)
	}
	return p, nil
}
