package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// tidyFlagHelp keeps help from printing defaults that say nothing: pflag
// shows any default it does not know as zero, so every size flag read
// "(default 0B)" after its own "(default vm.memory)".
func tidyFlagHelp(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		tidyFlagHelp(c)
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() == "size" && f.DefValue == "0B" {
			f.DefValue = ""
		}
	})
}
