package imagepull

import (
	"archive/tar"
	"bytes"
	"fmt"
	"testing"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
)

// fuzzPaths is the small namespace fuzzed layers draw from, so that
// members collide, nest and shadow each other often.
var fuzzPaths = []string{"a", "b", "a/x", "a/y", "b/x", "a/x/z", "sp ace", "a/é\n!x"}

// fuzzLayers decodes bytes into up to four layers of members: three bytes
// per member (operation, path, argument).
func fuzzLayers(data []byte) [][]byte {
	layers := [][]rt.Entry{nil}
	modes := []int64{0o644, 0o4755, 0, 0o600, 0o1777, 0o2755, 0o700, 0o755}
	for i := 0; i+2 < len(data) && i < 3*48; i += 3 {
		op, p, arg := data[i]%10, fuzzPaths[int(data[i+1])%len(fuzzPaths)], data[i+2]
		other := fuzzPaths[int(arg)%len(fuzzPaths)]
		var e rt.Entry
		switch op {
		case 0, 1:
			e = rt.File(p, fmt.Sprintf("c%d", arg%5))
		case 2:
			e = rt.Dir(p)
		case 3:
			e = rt.Symlink(p, other)
		case 4, 5:
			e = rt.Hardlink(p, other)
		case 6:
			e = rt.Whiteout(p)
		case 7:
			e = rt.Opaque(p)
		case 8:
			e = rt.Fifo(p)
		case 9:
			if len(layers) < 4 {
				layers = append(layers, nil)
			}
			continue
		}
		if op <= 2 {
			e = e.WithMode(modes[arg%8]).WithOwner(int(arg>>4)*500, int(arg>>5)*500)
			if arg&8 != 0 {
				e = e.WithXattr("security.capability", "\x01\x00\x00\x02"+string(arg))
			}
		}
		layers[len(layers)-1] = append(layers[len(layers)-1], e)
	}
	out := make([][]byte, len(layers))
	for i, l := range layers {
		out[i] = rt.MustTar(l...)
	}
	return out
}

// checkAgainstModel runs Flatten and the reference model on layers and
// fails unless both reject them or both produce the same tree.
func checkAgainstModel(t *testing.T, layers [][]byte) {
	got, tree, gerr := flattenTree(t, layers)
	want, skipped, werr := refFlatten(layers)
	switch {
	case (gerr == nil) != (werr == nil):
		t.Fatalf("Flatten: %v\nmodel: %v", gerr, werr)
	case gerr != nil:
		return
	}
	if d := diffTrees(got, want); d != "" || skipped != tree.Skipped {
		t.Fatalf("Flatten and the model disagree (skipped %d vs %d):\n%s", tree.Skipped, skipped, d)
	}
}

// FuzzFlatten checks the streaming, newest-first Flatten against the
// oldest-first reference model on generated layer stacks: whiteouts,
// opaque directories, hardlinks within and across layers, type changes.
func FuzzFlatten(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 0, 1, 4, 1, 0, 9, 0, 0, 0, 0, 2},                            // a, b→a | a overwritten
		{0, 0, 1, 4, 1, 0, 9, 0, 0, 6, 0, 0},                            // a, b→a | a deleted
		{2, 0, 0, 0, 2, 1, 9, 0, 0, 7, 0, 0},                            // a/, a/x | opaque a
		{0, 0, 0, 9, 0, 0, 4, 1, 0},                                     // a | b→a (upper link to lower)
		{0, 0, 0, 4, 1, 0, 9, 0, 0, 4, 4, 1, 9, 0, 0, 0, 0, 0, 6, 1, 0}, // chains
		{2, 0, 6, 9, 0, 0, 0, 0, 1, 9, 0, 0, 0, 5, 0},                   // dir, file over it, nested file
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstModel(t, fuzzLayers(data))
	})
}

// FuzzFlattenTar feeds arbitrary bytes as the top layer over a fixed base:
// hostile tar headers must give an error, never a panic, a write outside
// the tree or a tree the model disagrees with.
func FuzzFlattenTar(f *testing.F) {
	base := rt.MustTar(rt.Dir("etc"), rt.File("etc/passwd", "root:x:0:0"), rt.File("bin/sh", "sh"), rt.Hardlink("bin/ash", "bin/sh"))
	for _, entries := range [][]rt.Entry{
		{rt.File("etc/passwd", "new"), rt.Hardlink("bin/bash", "bin/ash")},
		{rt.Whiteout("etc"), rt.Opaque("bin")},
		{rt.File("../escape", "x")},
		{rt.Symlink("evil", "../../../x")},
		{rt.File("x\n!touch /tmp/owned #", "n")},
	} {
		f.Add(rt.MustTar(entries...))
	}
	var long bytes.Buffer
	tw := tar.NewWriter(&long)
	_ = tw.WriteHeader(&tar.Header{Name: "p", Typeflag: tar.TypeReg, Size: 10, Mode: 0o644})
	_, _ = tw.Write([]byte("short")) // a truncated member
	f.Add(long.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstModel(t, [][]byte{base, data})
	})
}
