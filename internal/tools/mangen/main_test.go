package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	if err := generate(dir); err != nil {
		t.Fatal(err)
	}
	for page, want := range map[string]string{
		"banger.1":            "Exit status",
		"banger-run.1":        "IMAGE [COMMAND [ARG...]]",
		"banger-image-ls.1":   `\fB--filter\fP`,
		"banger-completion.1": "autocompletion",
		"banger-rmi.1":        "banger image rm",
		"banger-kernel-ls.1":  `\fB--quiet\fP`,
	} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Errorf("no man page %s: %v", page, err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", page, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "banger-proxy.1")); err == nil {
		t.Error("the hidden proxy command got a page")
	}
}
