package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
)

func newCommitCmd(app *App) *cobra.Command {
	var req api.CommitRequest
	cmd := &cobra.Command{
		Use:   "commit [--message TEXT] [--change INSTRUCTION]... [--format FORMAT] VM NAME[:TAG]",
		Short: "Make a new image of a VM's disk changes",
		Long: `Record a new image NAME[:TAG]: the VM's image with one more layer holding
what changed on the VM's disk since it was made from it — files added,
changed (content, mode, owner, times, extended attributes), linked again,
and deleted (whiteouts). The result is an OCI image like a pulled one: it
runs with ` + "`banger run`" + `, and its layers and config stay as they are.

A running VM's guest flushes its file systems, then the VM is paused for
the copy of its disk only (the answer says how long) and resumed; a
stopped VM's disk is copied as it is. What banger itself writes into a
guest — /.banger, /etc/hostname, /etc/resolv.conf — is never in the layer.
Volumes and shared directories (-v, --mount) are not on the disk and not
in the image.

--change applies Dockerfile instructions to the image's config, in order:
CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL (as docker commit
--change takes them; no variable expansion).`,
		Example: `  banger commit dev mytools:1
  banger commit --message "add curl" dev debian-curl
  banger commit --change 'CMD ["nginx", "-g", "daemon off;"]' --change 'EXPOSE 80' web web:v2
  banger commit --change 'ENV MODE=prod' --format json dev app:prod | jq -r .image.digest`,
		Args: cobra.ExactArgs(2),
	}
	cmd.Flags().StringVarP(&req.Message, "message", "m", "", "the commit message (the image history's comment)")
	cmd.Flags().StringVarP(&req.Author, "author", "a", "", `the author ("Jane <jane@example.com>")`)
	cmd.Flags().StringArrayVarP(&req.Changes, "change", "c", nil, "apply a Dockerfile instruction to the image's config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL); repeatable")
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, c, err := formatAndClient(app, *format)
		if err != nil {
			return err
		}
		req.Name = args[1]
		pv := newProgress(app.Stderr)
		res, err := api.Stream(cmd.Context(), c, api.CommitVM, req, pv.watch(), args[0])
		pv.Finish()
		if err != nil {
			return err
		}
		return printObject(app.Stdout, f, res, func() error {
			frozen := ""
			if res.FrozenMS > 0 {
				frozen = fmt.Sprintf("; the VM was frozen %s", time.Duration(res.FrozenMS)*time.Millisecond)
			}
			_, err := fmt.Fprintf(app.Stdout, "Committed %s as %s %s (a layer of %s: %d added, %d changed, %d deleted, on %s%s)\n",
				res.VM, imagepull.FamiliarName(res.Image.Name), res.Image.Digest, units.FormatSize(res.LayerBytes),
				res.Added, res.Changed, res.Deleted, imagepull.FamiliarName(res.Parent), frozen)
			return err
		})
	}
	return cmd
}
