// Command benchvolume is `make bench-volume`: in one run it writes and
// reads back 200 MiB, as one file and as 2,000 small files, through a
// shared directory (`run -v HOST:/vol`, virtio-fs) and on the guest's own
// disk (virtio-blk), and prints each throughput and the ratio
// volume/disk.
//
// The I/O runs in the guest, timed there by this same program (the
// `guest` mode, built static and copied in), so the numbers hold no CLI or
// exec overhead: a write includes its fsync (each file's for the big one,
// one syncfs for the small ones), and the guest's page cache is dropped
// before every read, so reads go to virtio-fs or virtio-blk. Rounds
// alternate volume and disk; medians are printed.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/internal/tools/benchdaemon"
)

// Total is what each case moves: 200 MiB.
const Total = 200 << 20

// SmallFiles is how many files the small-file case splits Total into.
const SmallFiles = 2000

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "guest" {
		err = guest(os.Args[2:])
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-volume:", err)
		os.Exit(1)
	}
}

// result is one timed operation in the guest.
type result struct {
	Op      string  `json:"op"`
	Files   int     `json:"files"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func (r result) mibps() float64 { return float64(r.Bytes) / (1 << 20) / r.Seconds }

func run() error {
	var (
		banger = flag.String("banger", "bin/banger", "banger binary")
		helper = flag.String("helper", "", "this program built static for the guest")
		kernel = flag.String("kernel-deb", "", "Debian linux-image .deb to import")
		image  = flag.String("image-tar", "", "root file system tarball to import")
		rounds = flag.Int("rounds", 3, "timed rounds of each case")
	)
	flag.Parse()
	if *kernel == "" || *image == "" || *helper == "" {
		return errors.New("need -kernel-deb, -image-tar and -helper")
	}
	d, err := benchdaemon.Start(*banger, "bgv", 221, *kernel, *image)
	if err != nil {
		return err
	}
	defer d.Stop()
	shared := filepath.Join(d.Root(), "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"run", "-d", "--name", "io", "--memory", "1G", "--disk", "1G", "-v", shared + ":/vol", "bench"},
		{"cp", *helper, "io:/benchio"},
		{"exec", "io", "--", "sh", "-c", "chmod +x /benchio && mkdir -p /disk"},
	} {
		if _, _, err := d.CLI(args...); err != nil {
			return err
		}
	}

	type key struct{ where, shape, op string }
	got := map[key][]float64{}
	for i := range *rounds {
		for _, where := range []string{"/vol", "/disk"} {
			for _, files := range []int{1, SmallFiles} {
				shape := map[int]string{1: "1 x 200 MiB", SmallFiles: "2000 x 100 KiB"}[files]
				out, _, err := d.CLI("exec", "io", "--", "/benchio", "guest", where+"/t", strconv.Itoa(files))
				if err != nil {
					return err
				}
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					var r result
					if err := json.Unmarshal([]byte(line), &r); err != nil {
						return fmt.Errorf("guest said %q: %w", line, err)
					}
					got[key{where, shape, r.Op}] = append(got[key{where, shape, r.Op}], r.mibps())
					fmt.Printf("round %d  %-5s %-15s %-5s %8.1f MiB/s\n", i+1, where, shape, r.Op, r.mibps())
				}
			}
		}
	}
	fmt.Printf("\nmedians of %d rounds (MiB/s)   -v volume (virtio-fs)   guest disk (virtio-blk)   volume/disk\n", *rounds)
	for _, shape := range []string{"1 x 200 MiB", "2000 x 100 KiB"} {
		for _, op := range []string{"write", "read"} {
			v, k := benchdaemon.Median(got[key{"/vol", shape, op}]), benchdaemon.Median(got[key{"/disk", shape, op}])
			fmt.Printf("%-15s %-5s             %10.1f              %10.1f              %6.2fx\n", shape, op, v, k, v/k)
		}
	}
	return nil
}
