// Package units parses and prints the byte sizes users type: "512MiB",
// "2G", "64m", "1073741824". Binary multiples are used throughout (G and GiB
// both mean 2^30), as qemu-img, Firecracker and docker do.
package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Common sizes.
const (
	KiB int64 = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var suffixes = map[string]int64{
	"": 1, "b": 1,
	"k": KiB, "kb": KiB, "kib": KiB,
	"m": MiB, "mb": MiB, "mib": MiB,
	"g": GiB, "gb": GiB, "gib": GiB,
	"t": TiB, "tb": TiB, "tib": TiB,
}

// ErrSize is wrapped by every parse error.
var ErrSize = errors.New("invalid size")

// ParseSize reads a size such as "512MiB", "1.5G" or "4096". It rejects
// negative values and values that do not fit in an int64.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, suf := t, ""
	if i >= 0 {
		num, suf = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	}
	mult, ok := suffixes[suf]
	if num == "" || !ok {
		return 0, fmt.Errorf("%w %q: want a number with an optional unit (K, M, G, T, or KiB, MiB, GiB, TiB)", ErrSize, s)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("%w %q: out of range", ErrSize, s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("%w %q: out of range", ErrSize, s)
	}
	return int64(f * float64(mult)), nil
}

// FormatSize prints n in the largest binary unit that keeps one decimal
// place meaningful: "512MiB", "1.5GiB", "100B".
func FormatSize(n int64) string {
	units := []struct {
		name string
		size int64
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}}
	for _, u := range units {
		if n >= u.size {
			v := float64(n) / float64(u.size)
			if n%u.size == 0 {
				return fmt.Sprintf("%d%s", n/u.size, u.name)
			}
			return fmt.Sprintf("%.1f%s", v, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// Size is an int64 byte count that reads and writes itself as text, for
// config files and flags.
type Size int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	n, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(FormatSize(int64(s))), nil }

// String implements fmt.Stringer and pflag.Value.
func (s *Size) String() string { return FormatSize(int64(*s)) }

// Set implements pflag.Value.
func (s *Size) Set(v string) error { return s.UnmarshalText([]byte(v)) }

// Type implements pflag.Value.
func (s *Size) Type() string { return "size" }
