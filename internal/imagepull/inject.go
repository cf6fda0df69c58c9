package imagepull

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bangerdev/banger/internal/guestpaths"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// bangerDir is the directory of the image banger owns: its guest agent and
// version marker. An image may have it as a directory, never otherwise.
const bangerDir = guestpaths.DirName

// Guest paths InjectGuestAgents writes.
const (
	AgentPath   = "/" + bangerDir + "/agent"
	VersionPath = "/" + bangerDir + "/version"
)

// SystemAgentPath is where packages install the guest agent.
const SystemAgentPath = "/usr/lib/banger/banger-agent"

// ErrReserved is wrapped by errors for images that already hold something
// where banger writes its own files.
var ErrReserved = errors.New("path reserved for banger")

// Agent is what InjectGuestAgents puts in an image.
type Agent struct {
	// Path is the static banger-agent binary on the host; empty when none
	// is available (only the version marker is written).
	Path string
	// Version is banger's version, written to the marker.
	Version string
}

// Injected reports what InjectGuestAgents wrote.
type Injected struct {
	// AgentSHA256 is the hex sha256 of the agent written, "" when none.
	AgentSHA256 string
	// HeldBoot says the image can boot held (bootcfg.Config.Hold): it
	// carries this agent, and every mount point a read-only root needs
	// exists as a directory (the agent cannot make one before the apply).
	HeldBoot bool
}

// mountPoints are the directories the agent mounts API file systems on
// before the root is writable; InjectGuestAgents adds those an image
// lacks (scratch images have none), as container runtimes do. They are
// the top-level targets of internal/agent/initplan's apiMounts.
var mountPoints = []string{"dev", "proc", "sys", "run"}

// EnvAgent names the environment variable that points the daemon at a
// banger-agent binary when the config does not (tests and development
// builds use it).
const EnvAgent = "BANGER_AGENT"

// LocateAgent is the one place that decides which guest agent binary new
// images and kernel initramfs images get: configured (the config key
// image.agent_binary) when set, else $BANGER_AGENT — either must then
// exist — else the first of agentCandidates that exists. It returns ""
// when there is none. It looks every time it is called, so a newly
// installed agent is picked up without a restart.
func LocateAgent(configured string) (string, error) {
	for _, c := range []struct{ path, from string }{
		{configured, "image.agent_binary"},
		{os.Getenv(EnvAgent), "$" + EnvAgent},
	} {
		if c.path == "" {
			continue
		}
		if err := isFile(c.path); err != nil {
			return "", fmt.Errorf("guest agent %s (from %s): %w", c.path, c.from, err)
		}
		return c.path, nil
	}
	exe, _ := os.Executable()
	for _, p := range agentCandidates(exe) {
		if isFile(p) == nil {
			return p, nil
		}
	}
	return "", nil
}

// agentCandidates are where an agent is looked for beside the running
// executable exe: next to it (a build tree's bin/), in ../lib/banger/ (what
// `make install` lays out under any PREFIX: PREFIX/bin/banger and
// PREFIX/lib/banger/banger-agent, the agent being a guest binary, not a
// command), then SystemAgentPath.
func agentCandidates(exe string) []string {
	var out []string
	if exe != "" {
		dir := filepath.Dir(exe)
		out = append(out, filepath.Join(dir, "banger-agent"), filepath.Join(dir, "..", "lib", "banger", "banger-agent"))
	}
	return append(out, SystemAgentPath)
}

func isFile(p string) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: no such file", errdefs.ErrNotFound)
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: not a regular file", errdefs.ErrInvalid)
	}
	return nil
}

// InjectGuestAgents writes banger's guest files into the image being built:
// /.banger/agent (mode 0755, when agent.Path is set) and always
// /.banger/version, a marker naming banger's version and the agent's
// sha256. It never replaces an image's file: an image whose /.banger is
// not a directory, or that already has either file, is refused.
func InjectGuestAgents(sink Sink, tree *Tree, agent Agent) (*Injected, error) {
	exists, isDir := tree.Exists(bangerDir)
	if exists && !isDir {
		return nil, fmt.Errorf("%w: the image has /%s and it is not a directory", ErrReserved, bangerDir)
	}
	for _, p := range []string{AgentPath, VersionPath} {
		if ok, _ := tree.Exists(p[1:]); ok {
			return nil, fmt.Errorf("%w: the image already has %s", ErrReserved, p)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	if !exists {
		if err := sink.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: bangerDir + "/", Mode: 0o755, ModTime: now}); err != nil {
			return nil, err
		}
	}
	inj := &Injected{}
	if agent.Path != "" {
		sum, err := writeAgent(sink, agent.Path, now)
		if err != nil {
			return nil, err
		}
		inj.AgentSHA256 = sum
	}
	inj.HeldBoot = agent.Path != ""
	for _, p := range mountPoints {
		switch exists, isDir := tree.Exists(p); {
		case !exists:
			if err := sink.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: now}); err != nil {
				return nil, err
			}
		case !isDir:
			inj.HeldBoot = false // e.g. /run a symlink: boots, but never held
		}
	}
	marker := "banger_version=" + agent.Version + "\nagent_sha256=" + inj.AgentSHA256 + "\n"
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: VersionPath[1:], Mode: 0o644, Size: int64(len(marker)), ModTime: now}
	if err := sink.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(sink, marker); err != nil {
		return nil, err
	}
	return inj, nil
}

func writeAgent(sink Sink, path string, mtime time.Time) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("guest agent: %w", err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("guest agent: %w", err)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: AgentPath[1:], Mode: 0o755, Size: fi.Size(), ModTime: mtime}
	if err := sink.WriteHeader(hdr); err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(sink, h), io.LimitReader(f, fi.Size()))
	if err != nil {
		return "", fmt.Errorf("guest agent %s: %w", path, err)
	}
	if n != fi.Size() {
		return "", fmt.Errorf("guest agent %s: shrank while it was copied", path)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
