package power

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Halt syncs the file systems and powers the machine off (or reboots). It
// does not return when it works; PID 1 must not exit (the kernel panics).
func Halt(reboot bool) error {
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if reboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	return unix.Reboot(cmd)
}

// DisableCAD makes the kernel send SIGINT to PID 1 on Ctrl-Alt-Del instead
// of rebooting at once, so the agent can stop the main process first.
func DisableCAD() error { return unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF) }

// Input device locations.
const (
	SysInput = "/sys/class/input"
	DevInput = "/dev/input"
)

// Buttons returns the evdev devices (/dev/input/eventN) that have a
// power key.
func Buttons(sysDir, devDir string) []string {
	ents, _ := filepath.Glob(filepath.Join(sysDir, "event*"))
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(e, "device", "capabilities", "key"))
		if err == nil && HasKey(string(b), KeyPower) {
			out = append(out, filepath.Join(devDir, filepath.Base(e)))
		}
	}
	return out
}

// WatchPowerButton calls pressed when a power button is pressed, until ctx
// ends. The devices appear when their drivers load (button and evdev may
// be modules), so it looks again for a few seconds after boot.
func WatchPowerButton(ctx context.Context, pressed func()) {
	watching := map[string]bool{}
	for _, wait := range []time.Duration{0, time.Second, 4 * time.Second} {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		for _, dev := range Buttons(SysInput, DevInput) {
			if watching[dev] {
				continue
			}
			f, err := os.Open(dev)
			if err != nil {
				continue
			}
			watching[dev] = true
			context.AfterFunc(ctx, func() { _ = f.Close() })
			go readButton(f, pressed)
		}
	}
}

func readButton(r io.Reader, pressed func()) {
	ev := make([]byte, inputEventSize)
	for {
		if _, err := io.ReadFull(r, ev); err != nil {
			return
		}
		if IsPowerPress(ev) {
			pressed()
		}
	}
}
