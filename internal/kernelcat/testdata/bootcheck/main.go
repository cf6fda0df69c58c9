// Command bootcheck is a stand-in for banger-agent as the initramfs's
// /init in the kernel catalog's boot test: it loads the modules listed in
// /.banger/initrd.json, in order, with finit_module, waits for /dev/vda,
// prints what it found on the console and powers the VM off.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	start := boottime()
	_ = unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	_ = unix.Mount("proc", "/proc", "proc", 0, "")
	fmt.Printf("BOOTCHECK init at %.3fs\n", start)
	var m struct {
		Version       int                 `json:"version"`
		KernelRelease string              `json:"kernel_release"`
		Modules       []string            `json:"modules"`
		OnDemand      map[string][]string `json:"on_demand"`
	}
	data, err := os.ReadFile("/.banger/initrd.json")
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		fmt.Printf("BOOTCHECK manifest error: %v\n", err)
		poweroff()
	}
	// Every VM's modules, then every on-demand group's: all must load.
	all := m.Modules
	for _, g := range m.OnDemand {
		all = append(all, g...)
	}
	loaded := 0
	for _, p := range all {
		if err := load(p); err != nil {
			fmt.Printf("BOOTCHECK load %s: %v\n", p, err)
			continue
		}
		loaded++
	}
	fmt.Printf("BOOTCHECK loaded %d/%d modules by %.3fs\n", loaded, len(all), boottime())
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat("/dev/vda"); err == nil {
			fmt.Printf("BOOTCHECK /dev/vda present at %.3fs\n", boottime())
			break
		}
		if time.Now().After(deadline) {
			fmt.Println("BOOTCHECK /dev/vda missing")
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	poweroff()
}

func load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	return unix.FinitModule(int(f.Fd()), "", 0)
}

func boottime() float64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

func poweroff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	os.Exit(0)
}
