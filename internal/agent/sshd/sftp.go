package sshd

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/pkg/sftp"

	"github.com/bangerdev/banger/internal/agent/process"
)

// sftp serves the sftp subsystem by running SFTPServer as the session's
// user in its home directory, as OpenSSH runs sftp-server: permissions are
// the user's, and relative paths (scp file vm:) are the home's. Without
// SFTPServer it serves in-process, relative to the agent's directory: the
// in-process server cannot change directory per session, and pkg/sftp's
// working-directory option rewrites relative symlink targets.
func (ss *session) sftp(ctx context.Context) {
	u, home, err := ss.loginUser()
	if err != nil {
		ss.fail(err, 1)
		return
	}
	if len(ss.s.opts.SFTPServer) > 0 {
		ss.run(ctx, process.Spec{Argv: ss.s.opts.SFTPServer, Dir: home, User: ss.login, Env: []string{"HOME=" + u.Home}})
		return
	}
	srv, err := sftp.NewServer(ss.ch)
	if err != nil {
		ss.fail(err, 1)
		return
	}
	err = srv.Serve()
	_ = srv.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		ss.fail(err, 1)
		return
	}
	ss.exit(0)
}

// ServeSFTP serves sftp on stdin/stdout, relative to the current
// directory: the body of `banger-agent sftp-server`, run as the session's
// user.
func ServeSFTP() error {
	srv, err := sftp.NewServer(stdio{})
	if err != nil {
		return err
	}
	return srv.Serve()
}

type stdio struct{}

func (stdio) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (stdio) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (stdio) Close() error                { return os.Stdout.Close() }
