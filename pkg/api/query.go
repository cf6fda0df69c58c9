package api

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// A request type whose fields all carry `query:"name"` tags travels in the
// URL query. Fields are strings, bools, ints or int64s, or pointers to them
// when zero is a value of its own (a timeout of 0 seconds is not the
// default timeout), or string slices (a repeated parameter: label=a&label=b).
// A zero field is left out, so the other side reads its default; a bool
// travels as 1 (handlers compare with "1"); a pointer travels whenever it
// is not nil.

// isQueryType reports whether t is meant to travel in the query: a struct
// with at least one `query` tag. checkQueryType says whether it can.
func isQueryType(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		if _, ok := t.Field(i).Tag.Lookup("query"); ok {
			return true
		}
	}
	return false
}

// checkQueryType reports fields encodeQuery cannot carry.
func checkQueryType(t reflect.Type) error {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("query") == "" {
			return fmt.Errorf("%v.%s has no query tag", t, f.Name)
		}
		if !queryCarries(f.Type) {
			return fmt.Errorf("%v.%s: a query cannot carry %v", t, f.Name, f.Type)
		}
	}
	return nil
}

// queryCarries reports whether a field of type t travels in a query: a
// string, bool, int or int64, a pointer to one, or a string slice (not a
// pointer to one: an absent parameter already is the empty slice).
func queryCarries(t reflect.Type) bool {
	if t.Kind() == reflect.Slice {
		return t.Elem().Kind() == reflect.String
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64:
		return true
	}
	return false
}

// encodeQuery returns the query form of v, a query type.
func encodeQuery(v any) url.Values {
	q := url.Values{}
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		f := rv.Field(i)
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				continue
			}
			f = f.Elem()
		} else if f.IsZero() {
			continue
		}
		name := rv.Type().Field(i).Tag.Get("query")
		switch f.Kind() {
		case reflect.String:
			q.Set(name, f.String())
		case reflect.Bool:
			b := "0"
			if f.Bool() {
				b = "1"
			}
			q.Set(name, b)
		case reflect.Int, reflect.Int64:
			q.Set(name, strconv.FormatInt(f.Int(), 10))
		case reflect.Slice:
			for j := range f.Len() {
				q.Add(name, f.Index(j).String())
			}
		}
	}
	return q
}

// decodeQuery sets the fields of *v, a query type, from q. A missing or
// empty parameter leaves its field zero. Numbers must be whole and not
// negative. Errors wrap errdefs.ErrInvalid and name the parameter.
func decodeQuery(q url.Values, v any) error {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		name := rv.Type().Field(i).Tag.Get("query")
		f := rv.Field(i)
		if f.Kind() == reflect.Slice {
			for _, s := range q[name] {
				f.Set(reflect.Append(f, reflect.ValueOf(s).Convert(f.Type().Elem())))
			}
			continue
		}
		s := q.Get(name)
		if s == "" {
			continue
		}
		if f.Kind() == reflect.Pointer {
			f.Set(reflect.New(f.Type().Elem()))
			f = f.Elem()
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(s)
		case reflect.Bool:
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("%w: query parameter %s=%q: want 1 or 0", errdefs.ErrInvalid, name, s)
			}
			f.SetBool(b)
		case reflect.Int, reflect.Int64:
			n, err := strconv.ParseInt(s, 10, f.Type().Bits())
			if err != nil || n < 0 {
				return fmt.Errorf("%w: query parameter %s=%q: want a whole number, 0 or more", errdefs.ErrInvalid, name, s)
			}
			f.SetInt(n)
		default:
			return fmt.Errorf("query parameter %s: %v is not a query type", name, rv.Type())
		}
	}
	return nil
}
