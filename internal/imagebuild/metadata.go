package imagebuild

import (
	"fmt"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bangerdev/banger/internal/dockerfile"
)

// historyComment marks the history entries a banger build wrote.
const historyComment = "banger image build"

// metadata applies an instruction that changes only the config, with a
// history entry marked empty_layer.
func (r *build) metadata(s *state, step dockerfile.Step) error {
	cf, err := s.img.ConfigFile()
	if err != nil {
		return fmt.Errorf("read the image's config: %w", err)
	}
	cf = cf.DeepCopy()
	c := &cf.Config
	switch step.Kind {
	case dockerfile.Env:
		for _, p := range step.Pairs {
			c.Env = setEnv(c.Env, p.Key, p.Value)
		}
	case dockerfile.Label:
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, p := range step.Pairs {
			c.Labels[p.Key] = p.Value
		}
	case dockerfile.Workdir:
		c.WorkingDir = path.Join("/", c.WorkingDir, step.Args[0])
		if path.IsAbs(step.Args[0]) {
			c.WorkingDir = path.Clean(step.Args[0])
		}
	case dockerfile.User:
		c.User = step.Args[0]
	case dockerfile.Cmd:
		c.Cmd = command(c, step)
		s.cmdSet = true
	case dockerfile.Entrypoint:
		c.Entrypoint = command(c, step)
		if !s.cmdSet {
			c.Cmd = nil // docker: an ENTRYPOINT drops the base image's CMD
		}
	case dockerfile.Expose:
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range step.Args {
			port, err := exposed(p)
			if err != nil {
				return err
			}
			c.ExposedPorts[port] = struct{}{}
		}
	case dockerfile.Volume:
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		for _, v := range step.Args {
			c.Volumes[v] = struct{}{}
		}
	case dockerfile.StopSignal:
		c.StopSignal = step.Args[0]
	case dockerfile.Shell:
		c.Shell = step.Args
	case dockerfile.Healthcheck:
		c.Healthcheck = step.Health
	case dockerfile.Maintainer:
		cf.Author = step.Args[0]
	default:
		return fmt.Errorf("%s is not a metadata instruction", step.Kind)
	}
	cf.History = append(cf.History, v1.History{CreatedBy: step.Source, Comment: historyComment, EmptyLayer: true})
	img, err := mutate.ConfigFile(s.img, cf)
	if err != nil {
		return err
	}
	s.img = img
	return nil
}

// command is CMD's or ENTRYPOINT's value: an exec form as written, a
// shell form run by the stage's shell.
func command(c *v1.Config, step dockerfile.Step) []string {
	if !step.ShellForm {
		return append([]string{}, step.Args...)
	}
	return append(shell(c), strings.Join(step.Args, " "))
}

// shell is what runs a shell form: SHELL's value, else /bin/sh -c.
func shell(c *v1.Config) []string {
	if len(c.Shell) > 0 {
		return append([]string{}, c.Shell...)
	}
	return []string{"/bin/sh", "-c"}
}

// exposed normalizes an EXPOSE port to PORT/PROTO (tcp by default).
func exposed(p string) (string, error) {
	port, proto, ok := strings.Cut(p, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if port == "" || strings.Trim(port, "0123456789-") != "" || (proto != "tcp" && proto != "udp" && proto != "sctp") {
		return "", fmt.Errorf("EXPOSE %s: want PORT[/tcp|udp|sctp]", p)
	}
	return port + "/" + proto, nil
}

// setEnv sets KEY=VALUE in env, in the place of an earlier KEY (as
// docker keeps the order).
func setEnv(env []string, key, value string) []string {
	out := append([]string{}, env...)
	for i, e := range out {
		if k, _, _ := strings.Cut(e, "="); k == key {
			out[i] = key + "=" + value
			return out
		}
	}
	return append(out, key+"="+value)
}

// expansionEnv is what a step's words expand with: the stage's ARG
// values, then the image's ENV, which wins over an ARG of the same name.
func expansionEnv(s *state) []string {
	cf, err := s.img.ConfigFile()
	if err != nil {
		return s.args
	}
	return runEnv(s, cf)
}

func splitPlatform(p string) (string, string) {
	osName, arch, _ := strings.Cut(p, "/")
	arch, _, _ = strings.Cut(arch, "/")
	return osName, arch
}
