package firecracker

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// Firecracker's error bodies come from another process: whatever they
// hold, the fault message is bounded, valid text.
func FuzzParseFault(f *testing.F) {
	f.Add([]byte(`{"fault_message":"x"}`))
	f.Add([]byte(`{"fault_message":1}`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got := ParseFault(body)
		if got == "" || !utf8.ValidString(got) {
			t.Fatalf("ParseFault(%q) = %q", body, got)
		}
		if !strings.HasPrefix(string(body), "{") && len(got) > 512+len("…") {
			t.Fatalf("unbounded fault: %d bytes", len(got))
		}
	})
}

// The vsock answer parser accepts exactly "OK <uint32>".
func FuzzParseOK(f *testing.F) {
	f.Add("OK 1073741824")
	f.Add("OK -1")
	f.Add("OK 99999999999")
	f.Add("KO 1")
	f.Fuzz(func(t *testing.T, line string) {
		port, err := ParseOK(line)
		if err != nil {
			return
		}
		if line != "OK "+strconv.FormatUint(uint64(port), 10) && !strings.HasPrefix(line, "OK +") && !strings.HasPrefix(line, "OK 0") {
			t.Fatalf("ParseOK(%q) = %d, accepted a non-canonical line", line, port)
		}
	})
}

// Version lines come from whatever binary the config names.
func FuzzParseVersion(f *testing.F) {
	f.Add("Firecracker v1.16.1\n\n")
	f.Add("Jailer v1.16.1")
	f.Add("firecracker 1")
	f.Fuzz(func(t *testing.T, out string) {
		v, ok := ParseVersion(out)
		if ok && (v == "" || strings.ContainsAny(v, " \t\n")) {
			t.Fatalf("ParseVersion(%q) = %q", out, v)
		}
	})
}
