package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/api"
)

func newNetworkCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage banger's host network (bridge, nftables table)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "teardown",
		Short: "Remove banger's bridge and nftables table and restore ip_forward",
		Long: `Remove banger's bridge and its nftables table, and restore
net.ipv4.ip_forward to what it was before banger set it — for uninstalling,
or to leave the host as it was. Refused while VMs run; stopped VMs keep
their addresses and bring the network back when they start.`,
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
	})
	return cmd
}
