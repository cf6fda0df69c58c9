package fctest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Environment of the fake executables. The fake firecracker needs the
// spec file; the fake jailer passes these on (and nothing else, as the
// real jailer clears the environment).
const (
	// EnvSpec is the path of the swagger file (required).
	EnvSpec = "FCTEST_SPEC"
	// EnvRoot is set by the fake jailer: the jail root the fake firecracker
	// resolves every path under, as if chrooted.
	EnvRoot = "FCTEST_ROOT"
	// EnvGuestPorts lists the guest's vsock echo services, comma-separated
	// (default "1024", banger's agent port; "none" for none).
	EnvGuestPorts = "FCTEST_GUEST_PORTS"
	// EnvGuestDelay is how long after boot the guest services start
	// listening (a Go duration; default 0).
	EnvGuestDelay = "FCTEST_GUEST_DELAY"
)

// Exit codes of Firecracker (FcExitCode).
const (
	exitOK       = 0
	exitGeneric  = 1
	exitArgParse = 153
)

// flags firecracker v1.16.1 accepts; true means the flag takes a value.
var fcFlags = map[string]bool{
	"api-sock": true, "id": true, "start-time-us": true, "start-time-cpu-us": true,
	"parent-cpu-time-us": true, "config-file": true, "log-path": true, "level": true,
	"module": true, "metrics-path": true, "seccomp-filter": true,
	"http-api-max-payload-size": true, "mmds-size-limit": true, "describe-snapshot": true,
	"no-api": false, "show-level": false, "show-log-origin": false, "boot-timer": false,
	"no-seccomp": false, "enable-pci": false, "version": false, "help": false,
}

// Firecracker's instance ids: alphanumeric and hyphens, at most 64.
var instanceIDRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// parseFlags parses "--name value" and "--name=value" as Firecracker's
// argument parser does; a flag it does not know is an error.
func parseFlags(args []string, known map[string]bool) (map[string]string, []string, error) {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return out, args[i+1:], nil
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		takes, ok := known[name]
		if !strings.HasPrefix(a, "--") || !ok {
			return nil, nil, fmt.Errorf("Found argument '%s' which wasn't expected, or isn't valid in this context.", a) //nolint:revive,staticcheck // Firecracker's wording
		}
		if _, dup := out[name]; dup {
			return nil, nil, fmt.Errorf("The argument '--%s' was provided more than once.", name) //nolint:revive,staticcheck // Firecracker's wording
		}
		if takes && !hasVal {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("The argument '--%s' requires a value but none was supplied", name) //nolint:revive,staticcheck // Firecracker's wording
			}
			i++
			val = args[i]
		}
		out[name] = val
	}
	return out, nil, nil
}

// Main runs the fake firecracker executable and returns its exit code.
// stdout is the guest's serial console, as with the real VMM.
func Main(args []string, stdout, stderr io.Writer) int {
	flags, _, err := parseFlags(args, fcFlags)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "Arguments parsing error: %v\n", err)
		return exitArgParse
	}
	specPath := os.Getenv(EnvSpec)
	if _, v := flags["version"]; v {
		_, _ = fmt.Fprintf(stdout, "Firecracker v%s\n\n", specVersion(specPath))
		return exitOK
	}
	for _, unsupported := range []string{"config-file", "no-api", "describe-snapshot"} {
		if _, set := flags[unsupported]; set {
			_, _ = fmt.Fprintf(stderr, "fctest: --%s is not emulated\n", unsupported)
			return exitGeneric
		}
	}
	id := flags["id"]
	if id == "" {
		id = "anonymous-instance"
	}
	if !instanceIDRE.MatchString(id) {
		_, _ = fmt.Fprintf(stderr, "Arguments parsing error: Invalid instance ID: %q\n", id)
		return exitArgParse
	}
	if specPath == "" {
		_, _ = fmt.Fprintf(stderr, "fctest: %s is not set; it must name the firecracker swagger file\n", EnvSpec)
		return exitGeneric
	}
	c, err := LoadContract(specPath)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "fctest: %v\n", err)
		return exitGeneric
	}
	sock := flags["api-sock"]
	if sock == "" {
		sock = "/run/firecracker.socket"
	}
	root := os.Getenv(EnvRoot)
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "unix", filepath.Join(root, sock))
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "Failed to open the API socket at %s: %v\n", sock, unwrapPath(err))
		return exitGeneric
	}
	exit := make(chan int, 1)
	guest := NewGuest()
	srv := NewServer(c, Options{
		ID: id, Root: root, Console: stdout, Guest: guest,
		OnStart: func() { startGuestServices(guest, stderr) },
		OnExit: func(code int) {
			select {
			case exit <- code:
			default:
			}
		},
	})
	go func() {
		if err := srv.Serve(l); err != nil {
			_, _ = fmt.Fprintf(stderr, "fctest: api server: %v\n", err)
			exit <- exitGeneric
		}
	}()
	code := <-exit
	_ = l.Close()
	_ = srv.Close()
	return code
}

// startGuestServices starts echo services on the configured guest ports.
func startGuestServices(g *Guest, stderr io.Writer) {
	delay, _ := time.ParseDuration(os.Getenv(EnvGuestDelay))
	ports := os.Getenv(EnvGuestPorts)
	if ports == "" {
		ports = "1024"
	}
	if ports == "none" {
		return
	}
	go func() {
		time.Sleep(delay)
		for _, p := range strings.Split(ports, ",") {
			port, err := strconv.ParseUint(strings.TrimSpace(p), 10, 32)
			if err != nil {
				_, _ = fmt.Fprintf(stderr, "fctest: bad %s entry %q\n", EnvGuestPorts, p)
				continue
			}
			l, err := g.Listen(uint32(port))
			if err != nil {
				_, _ = fmt.Fprintf(stderr, "fctest: %v\n", err)
				continue
			}
			go Echo(l)
		}
	}()
}

// Echo serves l by echoing every connection's bytes back until it closes.
func Echo(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer func() { _ = c.Close() }()
			_, _ = io.Copy(c, c)
		}()
	}
}

// specVersion reads info.version from the spec without parsing it all.
func specVersion(path string) string {
	b, err := os.ReadFile(path) //nolint:gosec // the tester names the spec file
	if err != nil {
		return "1.16.1"
	}
	m := regexp.MustCompile(`(?m)^  version: "?([0-9.]+)"?`).FindSubmatch(b)
	if m == nil {
		return "1.16.1"
	}
	return string(m[1])
}
