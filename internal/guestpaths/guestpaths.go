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

import (
	"path"
	"strings"
)

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
	// the file it links to: ResolvTarget).
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

// ResolvTarget decides where resolv.conf's content goes. /etc/resolv.conf
// is often a symlink (systemd-resolved's ../run/systemd/resolve/
// stub-resolv.conf) that dangles in a fresh VM because /run is empty:
//
//   - not a link: write /etc/resolv.conf;
//   - a link to an existing file: write through it;
//   - a dangling link into /run (a tmpfs, rebuilt every boot): create the
//     target's directory and write the target, keeping the image's layout;
//   - any other dangling link: replace the link with a file.
//
// linkTarget is the link's content ("" when /etc/resolv.conf is not a
// link); targetExists says whether it resolves.
func ResolvTarget(linkTarget string, targetExists bool) (target string, replaceLink bool) {
	const etc = ResolvConf
	if linkTarget == "" {
		return etc, false
	}
	t := linkTarget
	if !strings.HasPrefix(t, "/") {
		t = "/etc/" + t
	}
	t = path.Clean(t)
	if targetExists {
		return t, false
	}
	if strings.HasPrefix(t, "/run/") {
		return t, false
	}
	return etc, true
}
