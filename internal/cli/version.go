package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
)

// versions is what `banger version` shows: this client's and the daemon's.
type versions struct {
	Client api.VersionInfo  `json:"client"`
	Daemon *api.VersionInfo `json:"daemon,omitempty"`
}

func newVersionCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the client's and the daemon's versions and API versions",
		Long: `Show the version and API version of this client and of the daemon, and
whether they fit: a daemon serves the clients from its oldest accepted API
version to its own. When they do not fit, every other command fails
saying which side to upgrade; this one shows both and fails the same way.
With the daemon unreachable it shows the client and fails.`,
		Example: `  banger version
  banger version --format json`,
		Args: cobra.NoArgs,
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := parseFormat(*format)
		if err != nil {
			return err
		}
		c, err := app.Banger()
		if err != nil {
			return err
		}
		v := versions{Client: api.VersionInfo{Version: version.String(), APIVersion: api.APIVersion, MinAPIVersion: api.APIVersion}}
		d, derr := c.ServerVersion(cmd.Context())
		if derr == nil {
			v.Daemon = &d
			derr = c.Handshake(cmd.Context())
		}
		var mismatch *client.VersionError
		if derr != nil && !errors.As(derr, &mismatch) {
			v.Daemon = nil
		}
		if err := printObject(app.Stdout, f, v, func() error { return table(app.Stdout, versionRows(v)) }); err != nil {
			return err
		}
		return derr
	}
	return cmd
}

func versionRows(v versions) [][]string {
	rows := [][]string{
		{"Client:", v.Client.Version},
		{"  API version:", v.Client.APIVersion},
	}
	if d := v.Daemon; d != nil {
		rows = append(rows,
			[]string{"Daemon:", d.Version},
			[]string{"  API version:", d.APIVersion + " (serves clients of " + d.MinAPIVersion + " to " + d.APIVersion + ")"},
		)
	}
	return rows
}
