package units

import (
	"errors"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"4096", 4096, false},
		{"512MiB", 512 * MiB, false},
		{"512m", 512 * MiB, false},
		{"2G", 2 * GiB, false},
		{"2 GiB", 2 * GiB, false},
		{"1.5g", 3 * GiB / 2, false},
		{"64KB", 64 * KiB, false},
		{"1T", TiB, false},
		{"", 0, true},
		{"G", 0, true},
		{"-1", 0, true},
		{"12XB", 0, true},
		{"9223372036854775807G", 0, true},
		{"1e30", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err {
			if err == nil || !errors.Is(err, ErrSize) {
				t.Errorf("ParseSize(%q) = %d, %v; want ErrSize", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatSizeRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 1023, KiB, 3 * MiB, 512 * MiB, 5 * GiB, 2 * TiB} {
		s := FormatSize(n)
		back, err := ParseSize(s)
		if err != nil || back != n {
			t.Errorf("FormatSize(%d) = %q, parses back to %d, %v", n, s, back, err)
		}
	}
	if got := FormatSize(3 * GiB / 2); got != "1.5GiB" {
		t.Errorf("FormatSize(1.5GiB) = %q", got)
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1", "1.5G", "512MiB", "", "x", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d: negative", s, n)
		}
	})
}
