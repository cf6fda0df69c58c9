package power

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestHasKey(t *testing.T) {
	tests := []struct {
		bitmap string
		key    int
		want   bool
	}{
		{"10000000000000 0\n", KeyPower, true}, // what the ACPI power button shows
		{"10000000000000 0", 115, false},
		{"0", KeyPower, false},
		{"4 0 0", 130, true},
		{"zz 0", KeyPower, false},
		{"", KeyPower, false},
	}
	for _, tt := range tests {
		if got := HasKey(tt.bitmap, tt.key); got != tt.want {
			t.Errorf("HasKey(%q, %d) = %v, want %v", tt.bitmap, tt.key, got, tt.want)
		}
	}
}

func event(typ, code uint16, value int32) []byte {
	b := make([]byte, inputEventSize)
	binary.LittleEndian.PutUint16(b[16:], typ)
	binary.LittleEndian.PutUint16(b[18:], code)
	binary.LittleEndian.PutUint32(b[20:], uint32(value))
	return b
}

func TestIsPowerPress(t *testing.T) {
	if !IsPowerPress(event(evKey, KeyPower, 1)) {
		t.Error("power key down not recognized")
	}
	for _, ev := range [][]byte{event(evKey, KeyPower, 0), event(0, 0, 0), event(evKey, 30, 1), make([]byte, 16)} {
		if IsPowerPress(ev) {
			t.Errorf("%v taken for a power press", ev)
		}
	}
}

func TestPowerButtonsAndReadButton(t *testing.T) {
	sys := t.TempDir()
	for name, caps := range map[string]string{"event0": "3 0 0 0 0 0 0 0", "event1": "10000000000000 0"} {
		dir := filepath.Join(sys, name, "device", "capabilities")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "key"), []byte(caps+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := Buttons(sys, "/dev/input"); !reflect.DeepEqual(got, []string{"/dev/input/event1"}) {
		t.Fatalf("Buttons = %v", got)
	}
	r, w, _ := os.Pipe()
	for _, ev := range [][]byte{event(evKey, KeyPower, 1), event(evKey, KeyPower, 0), event(0, 0, 0)} {
		_, _ = w.Write(ev)
	}
	_ = w.Close()
	presses := 0
	readButton(r, func() { presses++ }) // returns at EOF
	if presses != 1 {
		t.Fatalf("%d presses from one key down and up", presses)
	}
}
