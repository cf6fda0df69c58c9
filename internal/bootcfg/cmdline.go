package bootcfg

import "strings"

// Kernel command line keys banger reads. The values are public (see the
// package doc): never put a secret here.
const (
	// ArgConfig names the config drive: banger.cfg=/dev/vdb.
	ArgConfig = "banger.cfg"
	// ArgHalt says how the agent ends the VM: "poweroff" (default) or
	// "reboot" (for VMMs that exit on a guest reboot but cannot power off,
	// like Firecracker without ACPI; run QEMU with -no-reboot for the same).
	ArgHalt = "banger.halt"
	// ArgLoad names the initramfs's on-demand module groups this VM
	// loads besides the ones every VM does: banger.load=virtiofs.
	ArgLoad = "banger.load"
)

// ModulesVirtioFS is the on-demand module group a VM with shared
// directories loads (FUSE and virtio-fs): loading it costs every boot
// ~0.1-0.3 s under TCG, so only such VMs do.
const ModulesVirtioFS = "virtiofs"

// DefaultStage2 is where the image pipeline puts the agent in the image root
// and where stage 1 hands over when the command line has no init=.
const DefaultStage2 = "/.banger/agent"

// Cmdline is the part of the kernel command line the agent uses.
type Cmdline struct {
	// Root is root= (e.g. /dev/vda); RootFSType is rootfstype= (default
	// ext4); RootFlags is rootflags=; ReadOnly is true for "ro" (the last
	// of ro/rw wins, as in the kernel).
	Root       string
	RootFSType string
	RootFlags  string
	ReadOnly   bool
	// Init is init= (what stage 1 executes), DefaultStage2 when absent.
	Init string
	// Config is banger.cfg= (the config drive).
	Config string
	// Halt is banger.halt= ("poweroff" unless "reboot").
	Halt string
	// Load are the groups banger.load= names (comma-separated).
	Load []string
	// Args holds every key=value argument (the last one wins).
	Args map[string]string
}

// ParseCmdline parses /proc/cmdline. It understands double quotes around
// values (key="a b") and stops at "--", after which arguments belong to
// init. It never fails: unknown or malformed words are kept or ignored.
func ParseCmdline(s string) Cmdline {
	c := Cmdline{Args: map[string]string{}, Init: DefaultStage2, RootFSType: "ext4", Halt: "poweroff"}
	for _, w := range splitCmdline(s) {
		if w == "--" {
			break
		}
		key, val, hasVal := strings.Cut(w, "=")
		switch {
		case !hasVal && key == "ro":
			c.ReadOnly = true
		case !hasVal && key == "rw":
			c.ReadOnly = false
		case hasVal:
			c.Args[key] = val
		}
	}
	if v := c.Args["root"]; v != "" {
		c.Root = v
	}
	if v := c.Args["rootfstype"]; v != "" {
		c.RootFSType = v
	}
	c.RootFlags = c.Args["rootflags"]
	if v := c.Args["init"]; v != "" {
		c.Init = v
	}
	c.Config = c.Args[ArgConfig]
	if c.Args[ArgHalt] == "reboot" {
		c.Halt = "reboot"
	}
	for g := range strings.SplitSeq(c.Args[ArgLoad], ",") {
		if g != "" {
			c.Load = append(c.Load, g)
		}
	}
	return c
}

// splitCmdline splits on spaces outside double quotes and drops the quotes,
// as the kernel's next_arg does.
func splitCmdline(s string) []string {
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
