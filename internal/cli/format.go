package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// formatHelp is the --format flag's usage.
const formatHelp = "output: table, json, or a Go template such as '{{.Name}} {{.State}}' over the fields --format json shows (Go names: SizeBytes for size_bytes); 'table TEMPLATE' adds a header row"

// formatFlag adds --format to cmd.
func formatFlag(cmd *cobra.Command, dflt string) *string {
	f := new(string)
	cmd.Flags().StringVar(f, "format", dflt, formatHelp)
	return f
}

// outputFormat is a parsed --format value.
type outputFormat struct {
	// kind is "table" (the command's own layout), "json", or "template".
	kind string
	tmpl *template.Template
	// header is the header row of a "table TEMPLATE", "" for a bare
	// template.
	header string
}

// templateFuncs are the functions a --format template may call, docker's
// most used ones.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"split": strings.Split,
	"truncate": func(s string, n int) string {
		if n >= 0 && len(s) > n {
			return s[:n]
		}
		return s
	},
}

// parseFormat reads a --format value: "table", "json", "table TEMPLATE" or
// a bare TEMPLATE. As in docker, the two characters \t and \n in a
// template stand for a tab (a column break in a table) and a newline.
func parseFormat(s string) (outputFormat, error) {
	switch strings.TrimSpace(s) {
	case "", "table":
		return outputFormat{kind: "table"}, nil
	case "json":
		return outputFormat{kind: "json"}, nil
	}
	text, tabled := strings.CutPrefix(strings.TrimLeft(s, " "), "table ")
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(strings.TrimSpace(text))
	if !strings.Contains(text, "{{") {
		return outputFormat{}, fmt.Errorf("%w: --format %q: want table, json, or a Go template such as '{{.Name}}'", errdefs.ErrInvalid, s)
	}
	tmpl, err := template.New("format").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return outputFormat{}, fmt.Errorf("%w: --format: %w", errdefs.ErrInvalid, err)
	}
	f := outputFormat{kind: "template", tmpl: tmpl}
	if tabled {
		f.header = templateHeader(text)
	}
	return f, nil
}

var (
	actionRE = regexp.MustCompile(`\{\{-?\s*(.*?)\s*-?\}\}`)
	fieldRE  = regexp.MustCompile(`\.([A-Za-z_][A-Za-z0-9_]*)\s*$`)
	// controlRE matches the actions that print nothing themselves.
	controlRE = regexp.MustCompile(`^(if|else|end|range|with|template|define|block|break|continue)\b`)
)

// templateHeader derives a table's header from its template: each action
// becomes its last field's name in capitals, words split ("{{.Spec.Image}}"
// is IMAGE, "{{.ExitCode}}" EXIT CODE); control actions ({{if}}, {{end}}) become
// nothing; other text stays, so tabs keep the
// columns.
func templateHeader(text string) string {
	return actionRE.ReplaceAllStringFunc(text, func(action string) string {
		inner := actionRE.FindStringSubmatch(action)[1]
		m := fieldRE.FindStringSubmatch(inner)
		if m == nil || controlRE.MatchString(inner) {
			return ""
		}
		return headerWords(m[1])
	})
}

// headerWords turns a Go field name into header words: ExitCode → EXIT CODE,
// IP → IP.
func headerWords(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		last := i+1 == len(rs)
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) && !last || !last && unicode.IsLower(rs[i+1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// execute writes the template's output for each value, one line each; a
// "table TEMPLATE" aligns the columns under the header.
func (f outputFormat) execute(w io.Writer, values ...any) error {
	out := w
	var tw *tabwriter.Writer
	if f.header != "" {
		tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		out = tw
		if _, err := fmt.Fprintln(tw, f.header); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	for _, v := range values {
		buf.Reset()
		if err := f.tmpl.Execute(&buf, v); err != nil {
			return fmt.Errorf("%w: --format: %w", errdefs.ErrInvalid, err)
		}
		buf.WriteByte('\n')
		if _, err := out.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// printList prints a listing: one line per item from the template, the
// items as one JSON array, or rows (the command's table, header first).
func printList[T any](w io.Writer, f outputFormat, items []T, rows func([]T) [][]string) error {
	switch f.kind {
	case "json":
		if items == nil {
			items = []T{}
		}
		return printJSON(w, items)
	case "template":
		return f.execute(w, anySlice(items)...)
	default:
		return table(w, rows(items))
	}
}

// printObjects prints what inspect found: docker's one JSON array, the
// template once per object, or each object's own layout (show), a blank
// line between two.
func printObjects(w io.Writer, f outputFormat, objs []any, show func(any) error) error {
	switch f.kind {
	case "json":
		if objs == nil {
			objs = []any{}
		}
		return printJSON(w, objs)
	case "template":
		return f.execute(w, objs...)
	}
	for i, o := range objs {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if err := show(o); err != nil {
			return err
		}
	}
	return nil
}

// printObject prints one report (doctor, info, gc): JSON, the template, or
// show.
func printObject(w io.Writer, f outputFormat, v any, show func() error) error {
	switch f.kind {
	case "json":
		return printJSON(w, v)
	case "template":
		return f.execute(w, v)
	default:
		return show()
	}
}

func anySlice[T any](items []T) []any {
	out := make([]any, len(items))
	for i := range items {
		out[i] = items[i]
	}
	return out
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
