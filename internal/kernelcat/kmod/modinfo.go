// Package kmod reads a kernel's loadable modules: the module tree under
// lib/modules/<release>, each module's .modinfo ELF section, and
// modules.dep when depmod has run. Distribution packages often ship
// without modules.dep (Debian's kernel .deb runs depmod in its postinst),
// so dependencies come from each module's own `depends=` field when the
// file is absent. Compressed modules (.ko.xz, .ko.zst, .ko.gz) are read
// through their codec.
package kmod

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxModinfo bounds the .modinfo section read from an untrusted module.
const maxModinfo = 1 << 20

// Modinfo is a module's .modinfo section: key to values, in order
// ("depends" holds one comma-separated value, "alias" many).
type Modinfo map[string][]string

// Get returns the first value of key.
func (m Modinfo) Get(key string) string {
	if v := m[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Depends returns the module names listed in depends=.
func (m Modinfo) Depends() []string {
	var out []string
	for d := range strings.SplitSeq(m.Get("depends"), ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, Normalize(d))
		}
	}
	return out
}

// SoftPre returns the modules a softdep= field asks to load first
// ("softdep=pre: crc32c post: x"): modprobe loads them when they exist, and
// so does the initramfs.
func (m Modinfo) SoftPre() []string {
	var out []string
	for _, v := range m["softdep"] {
		pre := false
		for _, f := range strings.Fields(v) {
			switch f {
			case "pre:":
				pre = true
			case "post:":
				pre = false
			default:
				if pre {
					out = append(out, Normalize(f))
				}
			}
		}
	}
	return out
}

// ReadModinfo parses the .modinfo section of an (uncompressed) module.
func ReadModinfo(r io.ReaderAt) (Modinfo, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("not an ELF module: %w", err)
	}
	s := f.Section(".modinfo")
	if s == nil {
		return nil, errors.New("module has no .modinfo section")
	}
	if s.Size > maxModinfo {
		return nil, fmt.Errorf(".modinfo section of %d bytes", s.Size)
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo: %w", err)
	}
	return ParseModinfo(data), nil
}

// ParseModinfo splits NUL-separated key=value strings.
func ParseModinfo(data []byte) Modinfo {
	m := Modinfo{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok || len(k) == 0 {
			continue
		}
		m[string(k)] = append(m[string(k)], string(v))
	}
	return m
}

// Normalize turns a module or file name into the kernel's module name:
// '-' and '_' are interchangeable, and the kernel uses '_'.
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }
