package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/pkg/api"
)

func newConfigCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show banger's configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "default",
		Short:   "Print the default configuration file, with every setting documented",
		Example: "  banger config default | sudo tee /etc/banger/config.toml",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprint(app.Stdout, config.DefaultTOML())
			return err
		},
	})
	show := &cobra.Command{
		Use:     "show",
		Short:   "Print the configuration the daemon runs with, as JSON",
		Example: "  banger config show",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			raw, err := api.Do(cmd.Context(), c, api.GetConfig, api.None{})
			if err != nil {
				return err
			}
			var cfg config.Config
			if err := json.Unmarshal(raw, &cfg); err != nil {
				return fmt.Errorf("decode the daemon's config: %w", err)
			}
			return printJSON(app.Stdout, cfg)
		},
	}
	cmd.AddCommand(show)
	return cmd
}
