package agent

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bangerdev/banger/internal/agent/sshd"
	"github.com/bangerdev/banger/internal/agent/stage1"
	"github.com/bangerdev/banger/internal/version"
)

const usage = `banger-agent is banger's guest agent: PID 1 in every banger VM.

It is not meant to be run by hand. Modes:
  (as PID 1)     stage 1 in an initramfs, stage 2 in the image root
  serve          serve the agent protocol as an ordinary process:
                   banger-agent serve -config DRIVE [-listen unix:PATH|tcp:ADDR|virtio:NAME|vsock:PORT]...
  sftp-server    serve sftp on stdin/stdout (run by the agent per session)
  version        print the version
`

// Main is banger-agent's entry point; it returns the exit code (PID 1
// never returns).
func Main(args []string) int {
	if os.Getpid() == 1 {
		console := openConsole()
		if stage1.Applies() {
			stage1.Main(console)
		}
		stage2(console)
	}
	if len(args) < 2 {
		_, _ = io.WriteString(os.Stderr, usage)
		return 2
	}
	switch args[1] {
	case "sftp-server":
		if err := sshd.ServeSFTP(); err != nil && !errors.Is(err, io.EOF) {
			_, _ = fmt.Fprintf(os.Stderr, "banger-agent sftp-server: %v\n", err)
			return 1
		}
		return 0
	case "serve":
		return serve(args[2:])
	case "version":
		_, _ = fmt.Println(version.Version)
		return 0
	default:
		_, _ = io.WriteString(os.Stderr, usage)
		return 2
	}
}
