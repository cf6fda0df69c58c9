package crash

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/crashpoint"
	"github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/proc"
)

// A driver reaches the crash points of one operation: it starts the
// lab's daemon armed at point and runs the CLI commands that pass it.
// The commands may fail: the daemon dies under them.
type driver func(t *testing.T, l *lab, point string)

// drivers are the operations crash points declare (crashpoint.Op). The
// VM gets a published port, so its nft rules are exercised too.
func drivers(pullRef string) map[crashpoint.Op]driver {
	armed := func(t *testing.T, l *lab, point string) {
		t.Helper()
		if !l.start(t, point) {
			t.Fatalf("the daemon armed at %s died at start:\n%s", point, l.logTail())
		}
	}
	runDetached := func(t *testing.T, l *lab) {
		t.Helper()
		l.must(t, "run", "-d", "--name", "cp", "-p", freePort(t)+":80", "busybox")
	}
	runNetns := func(t *testing.T, l *lab) {
		t.Helper()
		l.must(t, "run", "-d", "--name", "cp", "--network", l.podNetns(t), "busybox")
	}
	return map[crashpoint.Op]driver{
		crashpoint.RunNetns: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			l.cli("run", "-d", "--name", "cp", "--network", l.podNetns(t), "busybox")
		},
		crashpoint.RemoveNetns: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			runNetns(t, l)
			l.cli("rm", "-f", "cp")
		},
		crashpoint.Create: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			l.cli("create", "--name", "cp", "busybox")
		},
		crashpoint.Run: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			l.cli("run", "-d", "--name", "cp", "-p", freePort(t)+":80", "busybox")
		},
		crashpoint.RunRm: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			l.cli("run", "--rm", "--name", "cp", "busybox", "--", "true")
		},
		crashpoint.Stop: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			runDetached(t, l)
			l.cli("stop", "cp")
		},
		crashpoint.Remove: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			runDetached(t, l)
			l.cli("rm", "-f", "cp")
		},
		crashpoint.Checkpoint: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			runDetached(t, l)
			l.cli("checkpoint", "--name", "cpk", "cp")
		},
		crashpoint.Fork: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			runDetached(t, l)
			l.must(t, "checkpoint", "--name", "cpk", "cp")
			l.cli("run", "-d", "--from", "cpk", "--name", "cpf")
		},
		crashpoint.Reconcile: func(t *testing.T, l *lab, point string) {
			// A VM runs, the daemon is killed, then its VMM dies: the
			// next daemon, armed, must release the VM at start.
			if !l.start(t, "") {
				t.Fatalf("the daemon died at start:\n%s", l.logTail())
			}
			runDetached(t, l)
			l.kill(t)
			for _, pids := range l.scanHost(t, map[string]bool{}).VMMs {
				for _, pid := range pids {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				// Dead, not dying: a VMM tearing down its memory is still
				// alive to the next daemon, which would adopt it.
				for _, pid := range pids {
					id, err := proc.Lookup(pid)
					for deadline := time.Now().Add(20 * time.Second); err == nil && id.Alive(); time.Sleep(20 * time.Millisecond) {
						if time.Now().After(deadline) {
							t.Fatalf("VMM pid %d outlived SIGKILL for 20s", pid)
						}
					}
				}
			}
			l.start(t, point)
		},
		crashpoint.ImageImport: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			l.cli("image", "import", l.busybox, "--name", "cpimg")
		},
		crashpoint.ImagePull: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			l.cli("image", "pull", pullRef)
		},
		crashpoint.NetworkCreate: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			l.cli("network", "create", "cpn")
		},
		crashpoint.NetworkRemove: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			l.must(t, "network", "create", "cpn")
			l.cli("network", "rm", "cpn")
		},
		crashpoint.KernelImport: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			l.cli("kernel", "import", l.deb, "--name", "cpk")
		},
		crashpoint.KernelUpload: func(t *testing.T, l *lab, point string) {
			armed(t, l, point)
			l.cli("kernel", "import", "--upload", l.deb, "--name", "cpk")
		},
	}
}

// freePort returns "127.0.0.1:PORT" of a port free right now, below the
// kernel's ephemeral range (32768 up): a VM's published port must still
// be free when a restarted daemon binds it again, and an ephemeral port
// can meanwhile be taken by any outgoing connection on the host (a CI
// run met 127.0.0.1:45387 taken that way).
func freePort(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		ln, err := net.Listen("tcp4", addr) //nolint:noctx // a port probe
		if err != nil {
			continue
		}
		_ = ln.Close()
		return addr
	}
	t.Fatal("no free port in 127.0.0.1:20000-31999")
	return ""
}

// busyboxRegistry serves the busybox tree as an image on an in-process
// registry until the test ends, and returns its reference.
func busyboxRegistry(t *testing.T, l *lab) string {
	t.Helper()
	tarball, err := os.ReadFile(l.busybox)
	if err != nil {
		t.Fatal(err)
	}
	return serveTar(t, "crash/busybox:1", tarball, registrytest.Gzip)
}

// serveTar serves a one-layer image of a root file system tarball on an
// in-process registry until the test ends, and returns its reference.
func serveTar(t *testing.T, repoTag string, tarball []byte, c registrytest.Compression) string {
	t.Helper()
	layer, err := registrytest.LayerFromTar(tarball, c)
	if err != nil {
		t.Fatal(err)
	}
	img, err := registrytest.NewImage([]v1.Layer{layer})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := registrytest.Start(t).Push(t, repoTag, img)
	return ref
}
