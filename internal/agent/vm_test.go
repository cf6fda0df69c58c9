package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/streamsync"
	"github.com/bangerdev/banger/internal/testutil"
)

func tscKHz(t *testing.T) string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return strconv.Itoa(int(mhz * 1000))
			}
		}
	}
	return ""
}

func qmp(t *testing.T, sock, command string) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	r := bufio.NewReader(c)
	_, _ = r.ReadString('\n') // greeting
	for _, cmd := range []string{`{"execute":"qmp_capabilities"}`, `{"execute":"` + command + `"}`} {
		if _, err := c.Write([]byte(cmd + "\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
}

// A real guest: the Debian cloud kernel under QEMU TCG boots the agent as
// the initramfs /init, switch_roots into a busybox ext4, reads the config
// drive, grows the root, serves SSH on virtio-serial, runs the main
// process, and powers off on the ACPI power button.
func TestBootInQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	qemu := testutil.RequireQEMU(t)
	g := newAgentGuest(t, "agvm")
	vmlinuz, release, dir, initrd, rootImg, hostKey, clientKey := g.vmlinuz, g.release, g.dir, g.initrd, g.rootImg, g.hostKey, g.clientKey
	cfgImg := g.config(t, bootcfg.Config{
		VMID: "vmtest", Hostname: "agent-vm",
		Main:     &bootcfg.Process{Argv: []string{"sh", "-c", "ls -l /proc/self/fd >&2; echo main-says-hi; exit 7"}},
		Detached: true,
		GrowRoot: true,
	})
	agentSock, qmpSock, consoleLog := filepath.Join(dir, "agent.sock"), filepath.Join(dir, "qmp.sock"), filepath.Join(dir, "console.log")
	kargs := "console=ttyS0 root=/dev/vda rw banger.cfg=/dev/vdb panic=-1 quiet"
	if khz := tscKHz(t); khz != "" {
		kargs += " tsc_early_khz=" + khz
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, qemu,
		"-M", "microvm", "-cpu", "max", "-accel", "tcg", "-m", "256", "-smp", "1",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-kernel", vmlinuz, "-initrd", initrd, "-append", kargs,
		"-serial", "file:"+consoleLog,
		"-drive", "id=root,file="+rootImg+",format=raw,if=none",
		"-device", "virtio-blk-device,drive=root",
		"-drive", "id=cfg,file="+cfgImg+",format=raw,if=none,readonly=on",
		"-device", "virtio-blk-device,drive=cfg",
		"-device", "virtio-serial-device",
		"-chardev", "socket,id=agent,path="+agentSock+",server=on,wait=off",
		"-device", "virtserialport,chardev=agent,name=banger.agent",
		"-object", "rng-random,id=rng,filename=/dev/urandom",
		"-device", "virtio-rng-device,rng=rng",
		"-qmp", "unix:"+qmpSock+",server=on,wait=off",
	)
	var qemuOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(consoleLog)
			t.Logf("qemu: %s\nconsole:\n%s", qemuOut.String(), b)
		}
	})

	var conn net.Conn
	for conn == nil {
		c, err := net.Dial("unix", agentSock)
		if err == nil {
			conn = c
			break
		}
		if ctx.Err() != nil {
			t.Fatal("QEMU never created the agent socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := streamsync.Host(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentclient.Dial(ctx, conn, agentclient.Config{HostKey: hostKey.PublicKey(), Signer: clientKey.Signer})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	t.Logf("first handshake %v after QEMU started", time.Since(start).Round(time.Millisecond))

	exec := func(argv ...string) string {
		var out, errb bytes.Buffer
		t0 := time.Now()
		code, err := c.Exec(ctx, agentclient.ExecRequest{Argv: argv, Stdout: &out, Stderr: &errb})
		if err != nil || code != 0 {
			t.Fatalf("%v: code %d err %v stderr %q", argv, code, err, errb.String())
		}
		t.Logf("%v took %v", argv, time.Since(t0).Round(time.Millisecond))
		return out.String()
	}
	if out := exec("uname", "-a"); !strings.Contains(out, release) {
		t.Errorf("uname -a = %q, want the kernel %s", out, release)
	}
	if out := exec("hostname"); out != "agent-vm\n" {
		t.Errorf("hostname = %q", out)
	}
	out := exec("df", "-k", "/")
	fields := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])
	if kb, _ := strconv.Atoi(fields[1]); kb < 80*1024 {
		t.Errorf("root is %d KiB after grow_root on a 96 MiB disk:\n%s", kb, out)
	}
	var mainOut, mainErr bytes.Buffer
	code, err := c.AttachMain(ctx, nil, &mainOut, &mainErr)
	if err != nil || code != 7 || mainOut.String() != "main-says-hi\n" || !strings.Contains(mainErr.String(), "/dev/null") {
		t.Errorf("main: code %d err %v stdout %q stderr %q", code, err, mainOut.String(), mainErr.String())
	}

	// The ACPI power button (QEMU system_powerdown) powers off cleanly.
	qmp(t, qmpSock, "system_powerdown")
	select {
	case <-exited:
		t.Logf("powered off %v after QEMU started", time.Since(start).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("the guest did not power off on the ACPI power button")
	}
	console, _ := os.ReadFile(consoleLog)
	if n, ok := findStatus(string(console)); !ok || n != 7 {
		t.Errorf("console has no main exit line with status 7:\n%s", console)
	}
}

func findStatus(console string) (int, bool) {
	for line := range strings.SplitSeq(console, "\n") {
		if n, ok := agentclient.ParseConsoleExit(line); ok {
			return n, true
		}
	}
	return 0, false
}
