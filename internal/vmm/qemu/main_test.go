package qemu_test

import (
	"os"
	"testing"

	"github.com/bangerdev/banger/internal/vmm/vmmtest"
)

func TestMain(m *testing.M) { os.Exit(vmmtest.Main(m)) }
