// Package power ends the VM and notices when the VMM asks it to end: Halt
// syncs and powers off (or reboots, for VMMs that exit on a guest reboot),
// and WatchPowerButton turns the ACPI power button (QEMU's
// system_powerdown) into a callback by reading the button's evdev device —
// the simplest reliable way for a Go PID 1, with no acpid and no netlink
// family to speak. Ctrl-Alt-Del (Firecracker's SendCtrlAltDel) arrives as
// SIGINT once PID 1 disabled the kernel's own handling (DisableCAD).
package power

import (
	"strconv"
	"strings"
)

// KeyPower is the evdev key code of the power button (KEY_POWER).
const KeyPower = 116

// HasKey reports whether an evdev device's key capability bitmap (sysfs
// capabilities/key: hex words, most significant first, 64 bits each on
// 64-bit kernels) has key.
func HasKey(bitmap string, key int) bool {
	words := strings.Fields(bitmap)
	idx := len(words) - 1 - key/64
	if idx < 0 || idx >= len(words) {
		return false
	}
	w, err := strconv.ParseUint(words[idx], 16, 64)
	if err != nil {
		return false
	}
	return w&(1<<(uint(key)%64)) != 0
}

// inputEvent is struct input_event on 64-bit Linux: a timeval, then
// type, code and value.
const inputEventSize = 24

// Event types and values of interest.
const (
	evKey    = 1
	keyPress = 1
)

// IsPowerPress reports whether one raw input_event is the power key going
// down.
func IsPowerPress(ev []byte) bool {
	if len(ev) != inputEventSize {
		return false
	}
	typ := uint16(ev[16]) | uint16(ev[17])<<8
	code := uint16(ev[18]) | uint16(ev[19])<<8
	value := int32(uint32(ev[20]) | uint32(ev[21])<<8 | uint32(ev[22])<<16 | uint32(ev[23])<<24)
	return typ == evKey && code == KeyPower && value == keyPress
}
