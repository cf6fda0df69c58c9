package testimages

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Main is cmd/testimage: "busybox OUT" writes the busybox tarball to OUT;
// "minbase CACHEDIR" builds or finds the minbase tarball and prints its path.
func Main(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: testimage busybox OUT.tar | testimage minbase CACHEDIR")
	}
	switch args[0] {
	case "busybox":
		f, err := os.Create(args[1])
		if err != nil {
			return err
		}
		if err := WriteBusyboxRootfs(ctx, f, BusyboxPath); err != nil {
			_ = f.Close()
			_ = os.Remove(args[1])
			return err
		}
		return f.Close()
	case "minbase":
		p, err := BuildDebianMinbase(ctx, args[1])
		if err != nil {
			return err
		}
		_, err = fmt.Println(p)
		return err
	}
	return fmt.Errorf("unknown image %q: want busybox or minbase", args[0])
}
