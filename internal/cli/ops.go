package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func newPauseCmd(app *App) *cobra.Command {
	return vmActionCmd(app, api.PauseVM, &cobra.Command{
		Use:   "pause VM...",
		Short: "Freeze VMs' vCPUs; their memory, disk and host resources stay",
		Long: `Freeze each VM's virtual CPUs through its VMM (QEMU's QMP stop, Firecracker's
PATCH /vm), as docker pause freezes a container. The guest's clock stops;
nothing in it runs until ` + "`banger unpause`" + `. While paused, exec, ssh, cp and
top are refused; stop and kill unpause the VM first so its main process
gets the signal; rm -f kills its VMM as it is. A daemon restart keeps it
paused. A backend that cannot pause says so.`,
		Example: `  banger pause web
  banger ps --filter state=paused
  banger unpause web`,
	})
}

func newUnpauseCmd(app *App) *cobra.Command {
	return vmActionCmd(app, api.UnpauseVM, &cobra.Command{
		Use:     "unpause VM...",
		Short:   "Resume paused VMs",
		Example: "  banger unpause web",
	})
}

// vmActionCmd makes cmd call e on each VM named, printing each one's
// name (as docker's pause and unpause do).
func vmActionCmd(app *App, e api.Endpoint[api.None, api.VM], cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.MinimumNArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return app.eachVM(cmd.Context(), args, func(ctx context.Context, c *api.Client, ref string) error {
			_, err := api.Do(ctx, c, e, api.None{}, ref)
			return err
		})
	}
	return cmd
}

func newRenameCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "rename VM NEW_NAME",
		Short: "Rename a VM",
		Long: `Give a VM a new name, checked as --name is at create (1-63 letters, digits,
'_', '.' or '-'), and refused while another VM has it. A running VM keeps
running: everything it holds on the host is keyed by its id. Its guest's
host name follows at its next start, and OpenSSH entries written by
` + "`banger ssh-config`" + ` name the old name until written again.`,
		Example: `  banger rename swift_heron web
  banger exec web hostname`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fetch(cmd, app, api.RenameVM, api.RenameVMRequest{Name: args[1]}, args[0])
			return err
		},
	}
}

// portRow is one published port, as `banger port` prints it.
type portRow struct {
	Private  string `json:"private"`
	HostIP   string `json:"host_ip"`
	HostPort int    `json:"host_port"`
}

func newPortCmd(app *App) *cobra.Command {
	var format *string
	cmd := &cobra.Command{
		Use:   "port VM [PRIVATE_PORT[/PROTO]]",
		Short: "List a VM's published ports (-p), or the host address of one",
		Long: `List the ports a VM publishes on the host (run/create -p), in docker's
format: GUESTPORT/PROTO -> HOSTIP:HOSTPORT. Given a guest port (tcp unless
/udp is said), print only the host addresses it is published on. A port
published without a host port (-p 80, -P) shows the one banger picked
for the VM's current run; it has none while the VM is stopped.`,
		Example: `  banger port web
  banger port web 80
  banger port web 53/udp
  curl http://$(banger port web 80)/`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFormat(*format)
			if err != nil {
				return err
			}
			vm, err := fetch(cmd, app, api.GetVM, api.None{}, args[0])
			if err != nil {
				return err
			}
			rows := portRows(vm.PublishedPorts())
			if len(args) == 1 {
				return printList(app.Stdout, f, rows, func(rs []portRow) [][]string {
					var out [][]string
					for _, r := range rs {
						out = append(out, []string{fmt.Sprintf("%s -> %s:%d", r.Private, r.HostIP, r.HostPort)})
					}
					return out
				})
			}
			private, err := privatePort(args[1])
			if err != nil {
				return err
			}
			rows = keep(rows, func(r portRow) bool { return r.Private == private })
			if len(rows) == 0 {
				return fmt.Errorf("%w: vm %s publishes no host port for %s (see `banger port %s`)", errdefs.ErrNotFound, vm.Name, private, vm.Name)
			}
			return printList(app.Stdout, f, rows, func(rs []portRow) [][]string {
				var out [][]string
				for _, r := range rs {
					out = append(out, []string{fmt.Sprintf("%s:%d", r.HostIP, r.HostPort)})
				}
				return out
			})
		},
	}
	format = formatFlag(cmd, "table")
	return cmd
}

// portRows are a spec's published ports; an unset host address is every
// address, 0.0.0.0, as docker prints it.
func portRows(ports []api.PortMapping) []portRow {
	rows := []portRow{}
	for _, p := range ports {
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		rows = append(rows, portRow{Private: fmt.Sprintf("%d/%s", p.GuestPort, p.Protocol), HostIP: ip, HostPort: p.HostPort})
	}
	return rows
}

// privatePort reads PORT[/PROTO] as "80/tcp".
func privatePort(s string) (string, error) {
	port, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || (proto != "tcp" && proto != "udp") {
		return "", fmt.Errorf("%w: port %q: want PORT[/tcp|/udp], PORT 1-65535", errdefs.ErrInvalid, s)
	}
	return port + "/" + proto, nil
}
