package agent

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/bangerdev/banger/internal/agent/channel"
	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/bootcfg"
)

// serve runs the Service as an ordinary process: for tests and
// development, and as the child that keeps serving when --init handed
// PID 1 to the image's init (-child: halting then asks that init to power
// off).
func serve(args []string) int {
	fs := flag.NewFlagSet("banger-agent serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "boot config drive (image file or device)")
	child := fs.Bool("child", false, "run as the --init child of the image's init")
	var listens listFlag
	fs.Var(&listens, "listen", "unix:PATH, tcp:ADDR, virtio:NAME or vsock:PORT (repeatable; default: the config's channels)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logf := func(format string, a ...any) { _, _ = fmt.Fprintf(os.Stderr, "banger-agent: "+format+"\n", a...) }
	cfg, err := bootcfg.Read(*cfgPath)
	if err != nil {
		logf("%v", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	halted := make(chan bool, 1)
	svc, err := NewService(cfg, ServiceOptions{
		Console:    os.Stderr,
		Halt:       func(reboot bool) { halted <- reboot },
		SFTPServer: selfSFTP(),
		Logf:       logf,
	})
	if err != nil {
		logf("%v", err)
		return 1
	}
	if len(listens) == 0 {
		listens = defaultListens(cfg)
	}
	serveListens(svc, listens, logf)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		svc.Shutdown(proto.ShutdownPayload{})
	}()
	go svc.Run(ctx)
	reboot := <-halted
	_ = svc.Close()
	if *child {
		askInitToHalt(reboot)
	}
	return 0
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// defaultListens are the config's channels as -listen values.
func defaultListens(cfg bootcfg.Config) []string {
	var out []string
	if cfg.Channels.VirtioPort != "" {
		out = append(out, "virtio:"+cfg.Channels.VirtioPort)
	}
	if cfg.Channels.VsockPort != 0 {
		out = append(out, "vsock:"+strconv.FormatUint(uint64(cfg.Channels.VsockPort), 10))
	}
	if cfg.Channels.TCPPort != 0 && cfg.Network != nil {
		out = append(out, "tcp:"+net.JoinHostPort(cfg.Network.Address.Addr().String(), strconv.Itoa(int(cfg.Channels.TCPPort))))
	}
	return out
}

// serveListens serves svc on each -listen spec; one that cannot be
// opened is logged.
func serveListens(svc *Service, specs []string, logf func(string, ...any)) {
	for _, spec := range specs {
		l, err := listen(spec)
		if err != nil {
			logf("%v", err)
			continue
		}
		go func() { _ = svc.Serve(l) }()
	}
}

// newListens are the specs in after that are not in before.
func newListens(before, after []string) []string {
	var out []string
	for _, s := range after {
		if !slices.Contains(before, s) {
			out = append(out, s)
		}
	}
	return out
}

// listen opens one -listen spec.
func listen(spec string) (net.Listener, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "unix":
		_ = os.Remove(arg)
		return (&net.ListenConfig{}).Listen(context.Background(), "unix", arg)
	case "tcp":
		return (&net.ListenConfig{}).Listen(context.Background(), "tcp", arg)
	case "virtio":
		return channel.ListenSerial(arg, channel.SysVirtioPorts, channel.DevDir), nil
	case "vsock":
		port, err := strconv.ParseUint(arg, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("listen %s: bad port", spec)
		}
		return channel.ListenVsock(uint32(port))
	}
	return nil, fmt.Errorf("listen %s: want one of unix: tcp: virtio: vsock", spec)
}

// selfSFTP is the argv of this binary's sftp server.
func selfSFTP() []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return []string{exe, "sftp-server"}
}

// askInitToHalt asks the image's own init to power off or reboot:
// systemd takes SIGRTMIN+4/+5, busybox and sysvinit-style inits SIGUSR2
// (power off) and SIGTERM (reboot).
func askInitToHalt(reboot bool) {
	sig := syscall.SIGUSR2
	if reboot {
		sig = syscall.SIGTERM
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		sig = syscall.Signal(34 + 4) // SIGRTMIN+4 in glibc numbering: poweroff.target
		if reboot {
			sig = syscall.Signal(34 + 5)
		}
	}
	_ = syscall.Kill(1, sig)
}

// openConsole returns PID 1's console: stderr when the kernel opened
// /dev/console for it, else /dev/console opened here (an initramfs
// without the node leaves PID 1 with no stdio at all).
func openConsole() io.Writer {
	if _, err := os.Stderr.Stat(); err == nil {
		return os.Stderr
	}
	_ = os.MkdirAll("/dev", 0o755)
	_ = syscall.Mount("devtmpfs", "/dev", "devtmpfs", syscall.MS_NOSUID, "mode=0755")
	f, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return io.Discard
	}
	for fd := range 3 {
		_ = syscall.Dup3(int(f.Fd()), fd, 0)
	}
	return os.Stderr
}
