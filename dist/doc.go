// Package dist is what `make install` puts on a host besides the
// binaries: the systemd units in systemd/ (banger.socket, and
// banger.service, whose @BINDIR@ install fills in). It has no code; its
// tests install into a scratch DESTDIR, check the layout the daemon
// relies on, and verify the units with systemd-analyze.
package dist
