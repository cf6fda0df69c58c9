package imagepull

import (
	"archive/tar"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
)

// ApplyOwnership settles the metadata one member's inode will carry: its
// uid, gid, permission bits (setuid, setgid and sticky included) and
// extended attributes, exactly as the tar header gives them, whatever the
// host or the user running the conversion. The ext4 writer stores them in
// the inode as it creates it, so there is no later fix-up pass and no name
// ever reaches a tool that parses commands (debugfs) — which is why mode
// 0000 files, root-owned 0640 files and names with newlines are no special
// case here.
//
// It rejects ids that do not fit ext4's 32 bits and malformed attribute
// names, keeps security.capability and every other namespaced attribute,
// reads bsdtar's LIBARCHIVE.xattr records when no SCHILY record gives the
// same attribute, drops every other PAX record and the user and group
// names (numeric ids are what an image means), and fills a missing access
// or change time with the modification time.
func ApplyOwnership(hdr *tar.Header) error {
	if hdr.Uid < 0 || hdr.Uid > math.MaxUint32 || hdr.Gid < 0 || hdr.Gid > math.MaxUint32 {
		return fmt.Errorf("owner %d:%d does not fit ext4's 32-bit ids", hdr.Uid, hdr.Gid)
	}
	hdr.Mode &= 0o7777
	hdr.Uname, hdr.Gname = "", ""
	if hdr.AccessTime.IsZero() {
		hdr.AccessTime = hdr.ModTime
	}
	if hdr.ChangeTime.IsZero() {
		hdr.ChangeTime = hdr.ModTime
	}
	xattrs, err := xattrsOf(hdr.PAXRecords)
	if err != nil {
		return err
	}
	hdr.Xattrs = nil //nolint:staticcheck // cleared so the writer does not re-add the reader's copy
	hdr.PAXRecords = nil
	for name, value := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = make(map[string]string, len(xattrs))
		}
		hdr.PAXRecords[xattrPAXPrefix+name] = value
	}
	hdr.Format = tar.FormatPAX // any name, id and time; records only when needed
	return nil
}

// xattrNamespaces are the prefixes ext4 stores; an attribute outside them
// could not be read back by the guest kernel.
var xattrNamespaces = []string{"security.", "user.", "trusted.", "system.posix_acl_access", "system.posix_acl_default"}

func xattrsOf(records map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range records {
		if name, ok := strings.CutPrefix(k, xattrPAXPrefix); ok {
			if err := checkXattr(name, v); err != nil {
				return nil, err
			}
			out[name] = v
		}
	}
	for k, v := range records {
		enc, ok := strings.CutPrefix(k, "LIBARCHIVE.xattr.")
		if !ok {
			continue
		}
		name, err := url.QueryUnescape(enc)
		if err != nil {
			return nil, fmt.Errorf("xattr record %q: %w", k, err)
		}
		if _, dup := out[name]; dup {
			continue
		}
		value, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
		if err != nil {
			return nil, fmt.Errorf("xattr %q: value is not base64: %w", name, err)
		}
		if err := checkXattr(name, string(value)); err != nil {
			return nil, err
		}
		out[name] = string(value)
	}
	return out, nil
}

func checkXattr(name, value string) error {
	known := false
	for _, ns := range xattrNamespaces {
		known = known || strings.HasPrefix(name, ns)
	}
	switch {
	case !known:
		return fmt.Errorf("xattr %q: not in a namespace ext4 stores (security., user., trusted., system.posix_acl_*)", name)
	case len(name) > 255 || strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("xattr %q: invalid name", name)
	case len(value) > 4000:
		return errors.New("xattr " + name + ": value larger than one ext4 block")
	}
	return nil
}
