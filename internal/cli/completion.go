package cli

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
)

// completionTimeout bounds asking the daemon for names while a shell
// waits: a daemon that is down fails at once (no socket), a hung one
// costs the user this much and completes nothing.
const completionTimeout = time.Second

// kindRunning completes the names of running VMs only (exec, ssh);
// kindVolume names of volumes (which inspect does not look up);
// kindSnapshot the ids of boot snapshots; kindCheckpoint the names of
// checkpoints; kindNetwork the names of user-defined networks (what
// network inspect, rm, connect and disconnect take); kindNetworkFlag
// those and "none" (what --network takes besides).
const (
	kindRunning     = "running"
	kindVolume      = "volume"
	kindSnapshot    = "snapshot"
	kindCheckpoint  = "checkpoint"
	kindNetwork     = "network"
	kindNetworkFlag = "network-flag"
)

// argCompletion says what a command's arguments are: names of kinds, for
// every argument or only the first (the rest is a guest command).
type argCompletion struct {
	kinds     []string
	firstOnly bool
}

// argCompletions maps command paths to what their arguments complete to.
var argCompletions = map[string]argCompletion{
	"banger run":                {[]string{kindImage}, true},
	"banger create":             {[]string{kindImage}, true},
	"banger exec":               {[]string{kindRunning}, true},
	"banger ssh":                {[]string{kindRunning}, true},
	"banger start":              {kinds: []string{kindVM}},
	"banger stop":               {kinds: []string{kindVM}},
	"banger restart":            {kinds: []string{kindVM}},
	"banger kill":               {kinds: []string{kindVM}},
	"banger rm":                 {kinds: []string{kindVM}},
	"banger wait":               {kinds: []string{kindVM}},
	"banger pause":              {kinds: []string{kindRunning}},
	"banger unpause":            {kinds: []string{kindRunning}},
	"banger rename":             {[]string{kindVM}, true},
	"banger stats":              {kinds: []string{kindRunning}},
	"banger top":                {[]string{kindRunning}, true},
	"banger port":               {[]string{kindVM}, true},
	"banger update":             {kinds: []string{kindVM}},
	"banger logs":               {[]string{kindVM}, true},
	"banger attach":             {[]string{kindRunning}, true},
	"banger ssh-config":         {kinds: []string{kindVM}},
	"banger inspect":            {kinds: []string{kindVM, kindImage, kindKernel}},
	"banger image inspect":      {kinds: []string{kindImage}},
	"banger image rm":           {kinds: []string{kindImage}},
	"banger image tag":          {[]string{kindImage}, true},
	"banger image save":         {kinds: []string{kindImage}},
	"banger image push":         {[]string{kindImage}, true},
	"banger rmi":                {kinds: []string{kindImage}},
	"banger kernel inspect":     {kinds: []string{kindKernel}},
	"banger kernel rm":          {kinds: []string{kindKernel}},
	"banger volume inspect":     {kinds: []string{kindVolume}},
	"banger volume rm":          {kinds: []string{kindVolume}},
	"banger network inspect":    {kinds: []string{kindNetwork}},
	"banger network rm":         {kinds: []string{kindNetwork}},
	"banger network connect":    {kinds: []string{kindNetwork, kindVM}},
	"banger network disconnect": {kinds: []string{kindNetwork, kindVM}},
	"banger snapshot rm":        {kinds: []string{kindSnapshot}},
	"banger checkpoint":         {kinds: []string{kindRunning}},
	"banger commit":             {[]string{kindVM}, true},
	"banger checkpoint rm":      {kinds: []string{kindCheckpoint}},
	"banger fork":               {kinds: []string{kindRunning}},
}

// flagCompletions are the flags whose values are names or fixed words.
var flagCompletions = map[string]func(app *App) cobra.CompletionFunc{
	"kernel":  func(app *App) cobra.CompletionFunc { return completeNames(app, kindKernel) },
	"vmm":     fixedWords("auto", "qemu", "firecracker"),
	"network": func(app *App) cobra.CompletionFunc { return completeNames(app, kindNetworkFlag) },
	"type":    fixedWords(kindVM, kindImage, kindKernel),
	"format":  fixedWords("table", "json"),
	"from":    func(app *App) cobra.CompletionFunc { return completeNames(app, kindCheckpoint) },
}

func fixedWords(words ...string) func(*App) cobra.CompletionFunc {
	return func(*App) cobra.CompletionFunc {
		return cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp)
	}
}

// addCompletions attaches name completion to every command of the tree
// (cobra serves it through its hidden __complete command, which the
// scripts of `banger completion bash|zsh|fish` call).
func addCompletions(app *App, cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		addCompletions(app, c)
	}
	if ac, ok := argCompletions[cmd.CommandPath()]; ok && cmd.ValidArgsFunction == nil {
		complete := completeNames(app, ac.kinds...)
		cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if ac.firstOnly && len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return complete(cmd, args, toComplete)
		}
	}
	for name, f := range flagCompletions {
		if definesFlag(cmd, name) {
			_ = cmd.RegisterFlagCompletionFunc(name, f(app))
		}
	}
}

// definesFlag says whether cmd itself defines flag name (persistent or
// not): what cmd.LocalFlags() has, without the merge of every parent's
// persistent flags LocalFlags does on each call, which was most of
// building the command tree on every CLI start. Before a command is
// parsed its Flags() hold only its own.
func definesFlag(cmd *cobra.Command, name string) bool {
	return cmd.Flags().Lookup(name) != nil || cmd.PersistentFlags().Lookup(name) != nil
}

// completeNames completes the names of objects of kinds that start with
// what is typed, asking the daemon; when the daemon cannot answer it
// completes nothing, silently.
func completeNames(app *App, kinds ...string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		var out []cobra.Completion
		for _, k := range kinds {
			names, err := app.names(ctx, k)
			if err != nil {
				break
			}
			for _, n := range names {
				if strings.HasPrefix(n.name, toComplete) {
					out = append(out, cobra.CompletionWithDesc(n.name, n.desc))
				}
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// name is one completion: a name, and what zsh and fish show beside it.
type name struct{ name, desc string }

// names lists the names of one kind of object.
func (a *App) names(ctx context.Context, kind string) ([]name, error) {
	c, err := a.Client()
	if err != nil {
		return nil, err
	}
	var names []name
	switch kind {
	case kindVM, kindRunning:
		vms, err := api.Do(ctx, c, api.ListVMs, api.ListVMsQuery{All: kind == kindVM})
		for _, vm := range vms {
			names = append(names, name{vm.Name, string(vm.State) + ", " + imagepull.FamiliarName(vm.Spec.Image)})
		}
		return names, err
	case kindImage:
		imgs, err := api.Do(ctx, c, api.ListImages, api.None{})
		for _, img := range imgs {
			names = append(names, name{imagepull.FamiliarName(img.Name), "image, " + units.FormatSize(img.SizeBytes)})
		}
		return names, err
	case kindKernel:
		ks, err := api.Do(ctx, c, api.ListKernels, api.None{})
		for _, k := range ks {
			names = append(names, name{k.Name, "kernel " + k.Version})
		}
		return names, err
	case kindVolume:
		vols, err := api.Do(ctx, c, api.ListVolumes, api.None{})
		for _, v := range vols {
			names = append(names, name{v.Name, "volume, " + units.FormatSize(v.SizeBytes)})
		}
		return names, err
	case kindNetwork, kindNetworkFlag:
		ns, err := api.Do(ctx, c, api.ListNetworks, api.None{})
		if kind == kindNetworkFlag {
			names = append(names, name{api.NetworkNone, "no network"})
		}
		for _, n := range ns {
			names = append(names, name{n.Name, "network, " + n.Subnet})
		}
		return names, err
	case kindSnapshot:
		sns, err := api.Do(ctx, c, api.ListSnapshots, api.None{})
		for _, s := range sns {
			names = append(names, name{s.ID, "snapshot of " + cmp.Or(s.Image, s.ImageDigest) + ", " + units.FormatSize(s.SizeBytes)})
		}
		return names, err
	case kindCheckpoint:
		cks, err := api.Do(ctx, c, api.ListCheckpoints, api.None{})
		for _, ck := range cks {
			names = append(names, name{ck.Name, "checkpoint of " + cmp.Or(ck.VMName, ck.VM) + ", " + units.FormatSize(ck.SizeBytes)})
		}
		return names, err
	}
	return nil, nil
}
