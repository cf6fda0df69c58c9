package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// listing is the output side every listing command (ps, image ls, kernel
// ls) shares: --format, -q and, where the command has filter keys,
// --filter.
type listing[T any] struct {
	format  *string
	quiet   bool
	filters []string
	// keys are the filter keys (nil: no --filter); match builds the
	// filter.
	keys  map[string]string
	match func(filters) (func(T) bool, error)
	// id is what -q prints; rows the table, header first.
	id   func(T) string
	rows func([]T) [][]string
}

// addFlags adds the listing's flags to cmd; what names the objects listed
// ("VM ids").
func (l *listing[T]) addFlags(cmd *cobra.Command, what string) {
	l.format = formatFlag(cmd, "table")
	cmd.Flags().BoolVarP(&l.quiet, "quiet", "q", false, "print only "+what)
	if l.keys != nil {
		cmd.Flags().StringArrayVarP(&l.filters, "filter", "f", nil, fmt.Sprintf("keep what matches KEY=VALUE (%s); repeatable", strings.Join(filterKeyNames(l.keys), ", ")))
	}
}

// print checks the flags, gets the items from list (told the filters, so
// a filter can widen what it asks for) and prints those that match.
func (l *listing[T]) print(w io.Writer, list func(filters) ([]T, error)) error {
	f, err := parseFormat(*l.format)
	if err != nil {
		return err
	}
	flt, err := parseFilters(l.filters, l.keys)
	if err != nil {
		return err
	}
	match := func(T) bool { return true }
	if l.match != nil {
		if match, err = l.match(flt); err != nil {
			return err
		}
	}
	items, err := list(flt)
	if err != nil {
		return err
	}
	items = keep(items, match)
	if l.quiet {
		for _, it := range items {
			if _, err := fmt.Fprintln(w, l.id(it)); err != nil {
				return err
			}
		}
		return nil
	}
	return printList(w, f, items, l.rows)
}
