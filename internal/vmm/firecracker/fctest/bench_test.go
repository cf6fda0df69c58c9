package fctest

import (
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// BenchmarkLoadContract is the fake VMM's start-up cost: parsing the
// swagger file (every fake process does it once).
func BenchmarkLoadContract(b *testing.B) {
	path := testutil.SpecPath(b, SpecFile)
	for b.Loop() {
		if _, err := LoadContract(path); err != nil {
			b.Fatal(err)
		}
	}
}
