// Command mangen writes banger's man pages (section 1, one per command)
// into the directory it is given; `make man` runs it. It lives outside the
// banger binary so the CLI does not carry the man page renderer.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra/doc"

	"github.com/bangerdev/banger/internal/cli"
	"github.com/bangerdev/banger/internal/version"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mangen DIR")
		os.Exit(2)
	}
	if err := generate(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
}

// generate writes a page for every command that is not hidden into dir.
func generate(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // the developer names the output directory

		return err
	}
	root := cli.NewRoot(&cli.App{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: os.Stderr})
	root.DisableAutoGenTag = true // reproducible pages: no generation date
	header := &doc.GenManHeader{Title: "BANGER", Section: "1", Source: "banger " + version.String(), Manual: "banger manual"}
	return doc.GenManTree(root, header, dir)
}
