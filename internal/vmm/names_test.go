package vmm_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// No code outside internal/vmm decides anything by a backend's name: it
// asks the backend's Capabilities. This walks every non-test Go file of
// the repository and fails on a comparison (==, !=, switch case) with a
// backend's name as a literal or constant.
func TestNoBackendNameComparisonsOutsideVMM(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	vmmDir := filepath.Join(root, "internal", "vmm") + string(filepath.Separator)
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); strings.HasPrefix(name, ".") || name == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasPrefix(path, vmmDir) {
			return nil
		}
		files++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var operands []ast.Expr
			switch n := n.(type) {
			case *ast.BinaryExpr:
				if n.Op == token.EQL || n.Op == token.NEQ {
					operands = []ast.Expr{n.X, n.Y}
				}
			case *ast.CaseClause:
				operands = n.List
			}
			for _, e := range operands {
				if name := backendName(e); name != "" {
					rel, _ := filepath.Rel(root, path)
					t.Errorf("%s:%d compares with backend name %s; ask vmm.Capabilities instead", rel, fset.Position(e.Pos()).Line, name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("walked only %d files from %s: wrong root?", files, root)
	}
}

// backendName says which backend name e spells, or "".
func backendName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			if s, err := strconv.Unquote(e.Value); err == nil && (s == "qemu" || s == "firecracker") {
				return e.Value
			}
		}
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return ""
		}
		switch {
		case x.Name == "vmm" && (e.Sel.Name == "QEMU" || e.Sel.Name == "Firecracker"),
			(x.Name == "qemu" || x.Name == "firecracker") && e.Sel.Name == "Name":
			return x.Name + "." + e.Sel.Name
		}
	}
	return ""
}

// The check itself catches what it is meant to.
func TestBackendNameDetector(t *testing.T) {
	for src, want := range map[string]bool{
		`x == "qemu"`:                       true,
		`"firecracker" != b.Name()`:         true,
		`b == vmm.QEMU`:                     true,
		`n == qemu.Name`:                    true,
		`x == "qemu-img"`:                   false,
		`caps.Channel == vmm.ChannelSerial`: false,
	} {
		e, err := parser.ParseExpr(src)
		if err != nil {
			t.Fatal(err)
		}
		b := e.(*ast.BinaryExpr)
		got := backendName(b.X) != "" || backendName(b.Y) != ""
		if got != want {
			t.Errorf("%s: detected %v, want %v", src, got, want)
		}
	}
}
