package vms

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
	"sync"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// vmIDLen is the length of a VM id in hex digits. Twelve keep tap names
// ("bg-" + id) within IFNAMSIZ and make collisions negligible.
const vmIDLen = 12

// newVMID returns a random VM id.
func newVMID() string {
	b := make([]byte, vmIDLen/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Compiled on first use: a counted repetition compiles to a program the
// size of its count, which every CLI start would pay at init.
var vmNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`) })

// checkVMName validates a user-chosen VM name. Names that look like ids are
// refused so lookups by id stay unambiguous.
func checkVMName(name string) error {
	if !vmNameRE().MatchString(name) {
		return fmt.Errorf("%w: vm name %q: use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit", errdefs.ErrInvalid, name)
	}
	if len(name) == vmIDLen && isHex(name) {
		return fmt.Errorf("%w: vm name %q looks like a vm id; pick another", errdefs.ErrInvalid, name)
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

var (
	nameLeft  = []string{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nimble", "proud", "quick", "rapid", "sharp", "swift", "tidy", "vivid", "witty", "zesty"}
	nameRight = []string{"badger", "condor", "dingo", "falcon", "gecko", "heron", "ibis", "jackal", "koala", "lemur", "marten", "newt", "ocelot", "puffin", "quokka", "raven", "stoat", "tapir", "walrus", "yak"}
)

// randomVMName returns a docker-style name such as "swift_heron".
func randomVMName() string {
	pick := func(s []string) string {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(s))))
		return s[n.Int64()]
	}
	return pick(nameLeft) + "_" + pick(nameRight)
}
