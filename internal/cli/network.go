package cli

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/labels"
	"github.com/bangerdev/banger/pkg/api"
)

func newNetworkCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage networks: the default bridge and user-defined ones",
		Long: `Every VM is on a network. The default one ("bridge") isolates VMs from
each other; on a user-defined network, as on docker's, VMs reach each other
and find each other by name and by --network-alias through DNS, while
VMs on other networks cannot reach them. Each user-defined network is its
own bridge, subnet and nftables table, with NAT out like the default.`,
		Example: `  banger network create app
  banger run -d --name db --network app --network-alias database postgres-image
  banger run --rm --network app busybox -- ping -c1 database
  banger network ls
  banger network rm app`,
	}
	cmd.AddCommand(newNetworkCreateCmd(app), newNetworkLsCmd(app), newNetworkInspectCmd(app), newNetworkRmCmd(app),
		newNetworkPruneCmd(app), newNetworkConnectCmd(app), newNetworkDisconnectCmd(app), newNetworkTeardownCmd(app))
	return cmd
}

func newNetworkCreateCmd(app *App) *cobra.Command {
	var subnet string
	var lbls []string
	cmd := &cobra.Command{
		Use:   "create NAME [--subnet CIDR] [--label K=V]...",
		Short: "Create a network: a bridge, subnet and firewall table of its own",
		Long: `Create a user-defined network. Without --subnet a free /24 of
10.220.0.0/14 is taken; a subnet that overlaps another network's, the
default network's or a route of the host is refused.`,
		Example: `  banger network create app
  banger network create backend --subnet 10.230.0.0/24 --label team=db`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&subnet, "subnet", "", "IPv4 subnet in CIDR form (/8 to /29); default: a free /24")
	cmd.Flags().StringArrayVarP(&lbls, "label", "l", nil, "KEY=VALUE metadata; repeatable")
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		l, err := parseLabels(lbls)
		if err != nil {
			return err
		}
		return fetchAndShow(cmd, app, *format, api.CreateNetwork, api.CreateNetworkRequest{Name: args[0], Subnet: subnet, Labels: l}, nil, func(n api.Network) error {
			_, err := fmt.Fprintln(app.Stdout, n.ID)
			return err
		})
	}
	return cmd
}

// networkFilterKeys are network ls's filter keys, as docker's.
var networkFilterKeys = map[string]string{"id": "id", "name": "name", "label": "label", "type": "type"}

// networkFilter: id (a prefix), name (a substring, as docker's), label
// (KEY or KEY=VALUE), type (builtin for the default network, custom for
// the others).
func networkFilter(f filters) (func(api.Network) bool, error) {
	return func(n api.Network) bool {
		typ := "custom"
		if n.Default {
			typ = "builtin"
		}
		return f.match("id", func(v string) bool { return v != "" && strings.HasPrefix(n.ID, v) }) &&
			f.match("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
			labels.Match(n.Labels, f["label"]) &&
			f.match("type", func(v string) bool { return v == typ })
	}, nil
}

func newNetworkLsCmd(app *App) *cobra.Command {
	l := listing[api.Network]{
		id: func(n api.Network) string { return shortID(n.ID) }, rows: networkRows,
		keys: networkFilterKeys, match: networkFilter,
	}
	cmd := &cobra.Command{
		Use:     "ls [-q] [--filter KEY=VALUE] [--format FORMAT]",
		Aliases: []string{"list"},
		Short:   "List networks (the default one shows as bridge)",
		Example: `  banger network ls
  banger network ls -q --filter type=custom
  banger network ls --filter label=team=db --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return l.print(app.Stdout, func(filters) ([]api.Network, error) { return fetch(cmd, app, api.ListNetworks, api.None{}) })
		},
	}
	l.addFlags(cmd, "network ids")
	return cmd
}

func networkRows(ns []api.Network) [][]string {
	rows := [][]string{{"NETWORK ID", "NAME", "SUBNET", "BRIDGE", "CREATED"}}
	now := time.Now()
	for _, n := range ns {
		created := "-"
		if !n.Created.IsZero() {
			created = ago(n.Created, now)
		}
		rows = append(rows, []string{shortID(n.ID), n.Name, n.Subnet, n.Bridge, created})
	}
	return rows
}

func newNetworkInspectCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show one network: subnet, gateway, bridge, nftables table, the VMs on it",
		Example: `  banger network inspect app
  banger network inspect app --format json | jq -r .subnet`,
		Args: cobra.ExactArgs(1),
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return fetchAndShow(cmd, app, *format, api.GetNetwork, api.None{}, args, func(n api.Network) error {
			return printNetwork(app, n)
		})
	}
	return cmd
}

func printNetwork(app *App, n api.Network) error {
	return table(app.Stdout, [][]string{
		{"Name:", n.Name},
		{"ID:", n.ID},
		{"Subnet:", n.Subnet},
		{"Gateway:", n.Gateway + " (DNS: the VMs' names and aliases, then the host's resolvers)"},
		{"Bridge:", n.Bridge},
		{"nftables table:", n.Table},
		{"Labels:", cmp.Or(formatLabels(n.Labels), "-")},
		{"VMs:", cmp.Or(strings.Join(n.VMs, ", "), "-")},
	})
}

func newNetworkRmCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"remove"},
		Short:   "Remove networks (refused while a VM is on one)",
		Long: `Remove networks: their bridge, nftables tables and DNS relay, then their
record. A network any VM's spec names, running or not, is refused with
the VMs' names: remove them or disconnect them first.`,
		Example: `  banger network rm app
  banger network rm front back`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return removeEachAs(cmd, app, api.RemoveNetwork, args, func(_ string, n api.Network) string { return n.Name })
		},
	}
}

func newNetworkPruneCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "prune [--format FORMAT]",
		Short:   "Remove every user-defined network no VM is on",
		Example: "  banger network prune",
		Args:    cobra.NoArgs,
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return fetchAndShow(cmd, app, *format, api.PruneNetworks, api.None{}, nil, func(names []string) error {
			for _, n := range names {
				if _, err := fmt.Fprintln(app.Stdout, "Removed "+n); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return cmd
}

func newNetworkConnectCmd(app *App) *cobra.Command {
	var aliases []string
	cmd := &cobra.Command{
		Use:   "connect NETWORK VM [--alias NAME]...",
		Short: "Put a stopped VM on a network (it leaves the one it was on)",
		Long: `Put a stopped VM on a network. A banger VM has one network interface,
so, unlike docker, the VM leaves the network it was on; its address is
leased from the new network at its next start. A running VM is refused:
stop it first.`,
		Example: `  banger network connect app web --alias www
  banger network connect bridge web   # back on the default network`,
		Args: cobra.ExactArgs(2),
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "another name the VM answers to on the network; repeatable")
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return fetchAndShow(cmd, app, *format, api.ConnectNetwork, api.ConnectNetworkRequest{VM: args[1], Aliases: aliases}, args[:1], func(vm api.VM) error {
			_, err := fmt.Fprintln(app.Stdout, vm.Name)
			return err
		})
	}
	return cmd
}

func newNetworkDisconnectCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "disconnect NETWORK VM",
		Short:   "Take a stopped VM off a network (it then has none)",
		Example: `  banger network disconnect app web`,
		Args:    cobra.ExactArgs(2),
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return fetchAndShow(cmd, app, *format, api.DisconnectNetwork, api.ConnectNetworkRequest{VM: args[1]}, args[:1], func(vm api.VM) error {
			_, err := fmt.Fprintln(app.Stdout, vm.Name)
			return err
		})
	}
	return cmd
}

func newNetworkTeardownCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "teardown",
		Short: "Remove every network's bridge and nftables table and restore ip_forward",
		Long: `Remove banger's bridge and its nftables table, the user-defined networks'
bridges, tables and DNS relays (their records stay), and restore
net.ipv4.ip_forward to what it was before banger set it — for uninstalling,
or to leave the host as it was. Refused while VMs run; stopped VMs keep
their addresses and bring their network back when they start.`,
		Example: "  banger network teardown",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			if _, err := api.Do(cmd.Context(), c, api.TeardownNetwork, api.None{}); err != nil {
				return err
			}
			_, err = fmt.Fprintln(app.Stdout, "network removed")
			return err
		},
	}
}
