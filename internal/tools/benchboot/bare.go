package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bangerdev/banger/internal/vmm/qemu"
	"github.com/bangerdev/banger/pkg/api"
)

// plainArgv turns the command line banger runs QEMU with into one that
// runs as it is, from the shell's view: without the launcher that confines
// QEMU (everything up to "--") and without -sandbox, since the bare boot
// is the baseline confinement is measured against, and with every
// descriptor banger handed QEMU (-add-fd sets, /proc/self/fd paths)
// replaced by the file it was (fdPath: the legend at the top of QEMU's
// log). Socket chardevs keep their fd= for bareBoot to replace.
func plainArgv(argv []string, fdPath func(fd string) string) []string {
	if i := indexOf(argv, "--"); i >= 0 && !strings.HasPrefix(filepath.Base(argv[0]), "qemu-system") {
		argv = argv[i+1:]
	}
	sets := map[string]string{}
	var out []string
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "-sandbox" && i+1 < len(argv):
			i++
			continue
		case a == "-add-fd" && i+1 < len(argv):
			i++
			var fd, set string
			for _, kv := range strings.Split(argv[i], ",") {
				if v, ok := strings.CutPrefix(kv, "fd="); ok {
					fd = v
				} else if v, ok := strings.CutPrefix(kv, "set="); ok {
					set = v
				}
			}
			if _, ok := sets[set]; !ok {
				sets[set] = fdPath(fd)
			}
			continue
		}
		if fd, ok := strings.CutPrefix(a, "/proc/self/fd/"); ok {
			a = fdPath(fd)
		}
		for set, path := range sets {
			a = strings.ReplaceAll(a, "/dev/fdset/"+set+",", path+",")
			if strings.HasSuffix(a, "/dev/fdset/"+set) {
				a = strings.TrimSuffix(a, "/dev/fdset/"+set) + path
			}
		}
		out = append(out, a)
	}
	return out
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// inheritedFiles reads which file each descriptor banger handed the VM's
// QEMU is, from the legend at the top of its log in the runtime dir.
func (b *bench) inheritedFiles(vm string) (map[string]string, error) {
	out, err := b.cliOut("inspect", vm)
	if err != nil {
		return nil, err
	}
	// inspect prints an array; builds from before that printed the object.
	var info api.VM
	var infos []api.VM
	if json.Unmarshal([]byte(out), &infos) == nil && len(infos) == 1 {
		info = infos[0]
	} else if err := json.Unmarshal([]byte(out), &info); err != nil {
		return nil, fmt.Errorf("inspect %s: %w", vm, err)
	}
	log, err := os.ReadFile(filepath.Join(info.Runtime.RuntimeDir, "qemu.log"))
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for line := range strings.Lines(string(log)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), qemu.FDLegendPrefix); ok {
			if fd, path, ok := strings.Cut(rest, " = "); ok {
				files[fd] = path
			}
		}
	}
	return files, nil
}
