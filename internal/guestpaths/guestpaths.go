// Package guestpaths names the paths banger itself writes into a guest's
// root file system: /.banger, which image conversion fills (the guest
// agent, the version marker) and which a kernel's initramfs also uses, and
// the runtime files the agent rewrites at every boot (/etc/hostname,
// /etc/resolv.conf). They belong to banger, not to the image: a layer
// made from a VM's disk (`banger commit`, a build's RUN step) leaves them
// out, so a committed image carries neither the agent of the banger that
// made it nor the name and DNS of the VM it came from.
//
// It is the one list: the agent, image conversion and internal/layerdiff
// all take their paths from here.
package guestpaths

import "strings"

// Paths banger writes in a guest (absolute, clean).
const (
	// DirName is Dir's name in the root.
	DirName = ".banger"
	// Dir is banger's directory in an image: its guest agent and version
	// marker (internal/imagepull's InjectGuestAgents).
	Dir = "/" + DirName
	// Hostname is rewritten with the VM's name at every boot.
	Hostname = "/etc/hostname"
	// ResolvConf is rewritten with the VM's DNS servers at every boot (or
	// the file it links to; see the agent's netplan.ResolvTarget).
	ResolvConf = "/etc/resolv.conf"
)

// Owned returns the paths a layer made from a guest's disk must leave
// out, each with everything below it.
func Owned() []string { return []string{Dir, Hostname, ResolvConf} }

// Under reports whether p (absolute, clean) is one of paths or below one.
func Under(p string, paths []string) bool {
	for _, q := range paths {
		if p == q || strings.HasPrefix(p, strings.TrimSuffix(q, "/")+"/") {
			return true
		}
	}
	return false
}
