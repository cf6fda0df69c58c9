package api

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func ptr[T any](v T) *T { return &v }

// queryCases are request values of every query type and their wire form:
// the parameter names and values the daemon's handlers read.
var queryCases = []struct {
	v    any
	wire string
}{
	{ListVMsQuery{}, ""},
	{ListVMsQuery{All: true}, "all=1"},
	{ListVMsQuery{Labels: []string{"team=web", "tier"}}, "label=team%3Dweb&label=tier"},
	{StopVMQuery{}, ""},
	{StopVMQuery{Timeout: ptr(0)}, "timeout=0"},
	{StopVMQuery{Timeout: ptr(30)}, "timeout=30"},
	{StopVMQuery{Timeout: ptr(5), Signal: "INT"}, "signal=INT&timeout=5"},
	{KillVMQuery{}, ""},
	{KillVMQuery{Signal: "HUP"}, "signal=HUP"},
	{RemoveVMQuery{Force: true}, "force=1"},
	{RemoveVMQuery{MissingOK: true}, "missing_ok=1"},
	{VMLogsQuery{Follow: true}, "follow=1"},
	{VMLogsQuery{Tail: ptr(0)}, "tail=0"},
	{VMLogsQuery{Follow: true, Tail: ptr(20)}, "follow=1&tail=20"},
	{VMLogsQuery{Console: true, Since: "2026-01-02T03:04:05Z", Timestamps: true}, "console=1&since=2026-01-02T03%3A04%3A05Z&timestamps=1"},
	{AttachVMQuery{Logs: true, Stdin: true, Next: true}, "logs=1&next=1&stdin=1"},
	{GCQuery{DryRun: true}, "dry_run=1"},
	{ImageImportQuery{Name: "mybox:1"}, "name=mybox%3A1"},
	{ImageImportQuery{Name: "ghcr.io/a b&c", Size: 4 << 30}, "name=ghcr.io%2Fa+b%26c&size=4294967296"},
	{BuildImageQuery{Tag: "app:1"}, "tag=app%3A1"},
	{BuildImageQuery{Tag: "a", BuildArgs: []string{"V=1 2", "X"}, Target: "build", NoCache: true}, "build_arg=V%3D1+2&build_arg=X&no_cache=1&tag=a&target=build"},
	{SaveImagesQuery{Names: []string{"a:1", "ghcr.io/b/c"}, Format: "docker"}, "format=docker&name=a%3A1&name=ghcr.io%2Fb%2Fc"},
	{SaveImagesQuery{}, ""},
	{LoadImagesQuery{Source: "images.tar"}, "source=images.tar"},
	{KernelUploadQuery{Name: "custom", Default: true}, "default=1&name=custom"},
	{KernelUploadQuery{}, ""},
	{EventsQuery{}, ""},
	{EventsQuery{Since: "41", Until: "10m", Filter: []string{"type=vm", "label=a=b c"}}, "filter=type%3Dvm&filter=label%3Da%3Db+c&since=41&until=10m"},
}

// TestQueryRoundTrip: each query type encodes to the parameters the
// daemon reads and decodes back to the same value.
func TestQueryRoundTrip(t *testing.T) {
	for _, tc := range queryCases {
		got := encodeQuery(tc.v).Encode()
		if got != tc.wire {
			t.Errorf("encode %#v = %q, want %q", tc.v, got, tc.wire)
		}
		q, err := url.ParseQuery(got)
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(tc.v))
		if err := decodeQuery(q, back.Interface()); err != nil {
			t.Errorf("decode %q: %v", got, err)
			continue
		}
		if !reflect.DeepEqual(back.Elem().Interface(), tc.v) {
			t.Errorf("round trip of %#v gave %#v", tc.v, back.Elem().Interface())
		}
	}
}

// TestEveryQueryTypeIsCovered: a new query type in the table gets a case
// in queryCases.
func TestEveryQueryTypeIsCovered(t *testing.T) {
	covered := map[reflect.Type]bool{}
	for _, tc := range queryCases {
		covered[reflect.TypeOf(tc.v)] = true
	}
	for _, r := range Routes() {
		if r.Carrier == CarryQuery && !covered[r.In] {
			t.Errorf("%s: %v has no round-trip case", r, r.In)
		}
	}
}

// TestQueryDecodeErrors: a value that does not parse is ErrInvalid naming
// its parameter; a missing or empty one is the zero value; older clients'
// spellings of a bool still parse.
func TestQueryDecodeErrors(t *testing.T) {
	for raw, param := range map[string]string{
		"tail=ten":        "tail",
		"tail=-1":         "tail",
		"follow=maybe":    "follow",
		"follow=1&tail=x": "tail",
	} {
		q, _ := url.ParseQuery(raw)
		var v VMLogsQuery
		err := decodeQuery(q, &v)
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "parameter "+param+"=") {
			t.Errorf("decode %q: want ErrInvalid naming %s, got %v", raw, param, err)
		}
	}
	for _, raw := range []string{"size=1e9", "size=99999999999999999999"} {
		q, _ := url.ParseQuery(raw)
		var v ImageImportQuery
		if err := decodeQuery(q, &v); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "size") {
			t.Errorf("decode %q: %v", raw, err)
		}
	}
	var v KernelUploadQuery
	if err := decodeQuery(url.Values{"default": {"true"}, "name": {""}, "other": {"x"}}, &v); err != nil || v != (KernelUploadQuery{Default: true}) {
		t.Errorf("decode default=true: %+v, %v", v, err)
	}
}

// FuzzDecodeQuery: any query string decodes into each query type (every
// one queryCases has) without a panic, and what decoded encodes to a query
// that decodes to the same value (repeated parameters, such as label and
// filter, included).
func FuzzDecodeQuery(f *testing.F) {
	for _, tc := range queryCases {
		f.Add(tc.wire)
	}
	f.Add("label=a&label=b%3Dc&all=1&label=")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, tc := range queryCases {
			v := reflect.New(reflect.TypeOf(tc.v)).Interface()
			if decodeQuery(q, v) != nil {
				continue
			}
			val := reflect.ValueOf(v).Elem().Interface()
			back := reflect.New(reflect.TypeOf(val))
			if err := decodeQuery(encodeQuery(val), back.Interface()); err != nil {
				t.Fatalf("%#v: re-decode: %v", val, err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), val) {
				t.Fatalf("round trip of %#v gave %#v", val, back.Elem().Interface())
			}
		}
	})
}

// TestCheckQueryType: a route's query type is refused, naming the field,
// when decodeQuery could not fill a field of it.
func TestCheckQueryType(t *testing.T) {
	type named string
	for _, tc := range []struct {
		v     any
		field string // "" when the type is fine
	}{
		{struct {
			S  string   `query:"s"`
			B  bool     `query:"b"`
			I  int      `query:"i"`
			N  int64    `query:"n"`
			P  *int     `query:"p"`
			L  []string `query:"l"`
			NL []named  `query:"nl"`
		}{}, ""},
		{struct {
			A string `query:"a"`
			B string
		}{}, "B"},
		{struct {
			F float64 `query:"f"`
		}{}, "F"},
		{struct {
			L []int `query:"l"`
		}{}, "L"},
		{struct {
			L *[]string `query:"l"`
		}{}, "L"},
		{struct {
			P **int `query:"p"`
		}{}, "P"},
	} {
		err := checkQueryType(reflect.TypeOf(tc.v))
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%T: %v", tc.v, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), "."+tc.field)):
			t.Errorf("%T: want an error naming %s, got %v", tc.v, tc.field, err)
		}
	}
}
