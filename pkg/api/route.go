package api

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Kind is what an endpoint answers, and so which client helper calls it
// and which Router method serves it.
type Kind uint8

// The kinds of endpoint.
const (
	// KindJSON answers one JSON document: Do, Router.JSON, Handle.
	KindJSON Kind = iota + 1
	// KindEvents answers an event stream, progress then one result or
	// error: Stream, Router.Stream, HandleStream.
	KindEvents
	// KindUpload is KindEvents with the request body streamed raw (a
	// tarball, a kernel file); the request value travels in the query:
	// Upload, Router.Stream, HandleStream.
	KindUpload
	// KindText answers plain text as it is produced (a console log): Open,
	// Router.Raw.
	KindText
	// KindUpgrade switches the connection to Route.Protocol: Dial,
	// Router.Raw with Hijack.
	KindUpgrade
)

func (k Kind) String() string {
	switch k {
	case KindJSON:
		return "json"
	case KindEvents:
		return "events"
	case KindUpload:
		return "upload"
	case KindText:
		return "text"
	case KindUpgrade:
		return "upgrade"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Carrier is where an endpoint's request value travels.
type Carrier uint8

// The carriers, chosen from the request type (see newEndpoint).
const (
	// CarryNone: the request type is None; nothing is sent.
	CarryNone Carrier = iota
	// CarryQuery: a struct whose fields all have `query` tags travels in
	// the URL query (see encodeQuery).
	CarryQuery
	// CarryJSON: any other type is the JSON request body.
	CarryJSON
)

// None is the request or answer type of an endpoint that has none. A None
// answer is 204 No Content.
type None struct{}

// Route is one endpoint as data: what the daemon registers and what the
// client calls. Every Route of the API is in Routes.
type Route struct {
	Method string
	// Pattern is the path as a ServeMux pattern: {name} matches one path
	// segment, {name...} the rest of the path. Path fills them.
	Pattern string
	Kind    Kind
	// Carrier is where the request value (of type In) travels.
	Carrier Carrier
	// In and Out are the Go types of the request and the answer.
	In, Out reflect.Type
	// Protocol is what a KindUpgrade endpoint switches to.
	Protocol string
}

// MuxPattern is the route as an http.ServeMux pattern ("GET /v1/vms/{ref}").
func (r Route) MuxPattern() string { return r.Method + " " + r.Pattern }

func (r Route) String() string { return r.MuxPattern() }

// Params lists the names of the pattern's wildcards, in order.
func (r Route) Params() []string {
	var names []string
	for _, seg := range strings.Split(r.Pattern, "/") {
		if name, ok := wildcard(seg); ok {
			names = append(names, name)
		}
	}
	return names
}

// Path fills the pattern's wildcards with params, in order, each escaped
// as one path segment: an image name "ghcr.io/me/tool:1" stays one value.
// Errors wrap errdefs.ErrInvalid.
func (r Route) Path(params ...string) (string, error) {
	segs := strings.Split(r.Pattern, "/")
	n := 0
	for i, seg := range segs {
		name, ok := wildcard(seg)
		if !ok {
			continue
		}
		if n == len(params) {
			return "", fmt.Errorf("%w: %s: no value for {%s}", errdefs.ErrInvalid, r, name)
		}
		if params[n] == "" {
			return "", fmt.Errorf("%w: %s: empty {%s}", errdefs.ErrInvalid, r, name)
		}
		segs[i] = escapeSegment(params[n])
		n++
	}
	if n != len(params) {
		return "", fmt.Errorf("%w: %s takes %d path values, got %d", errdefs.ErrInvalid, r, n, len(params))
	}
	return strings.Join(segs, "/"), nil
}

// wildcard returns the name of a "{name}" or "{name...}" segment.
func wildcard(seg string) (string, bool) {
	if !strings.HasPrefix(seg, "{") || !strings.HasSuffix(seg, "}") {
		return "", false
	}
	return strings.TrimSuffix(seg[1:len(seg)-1], "..."), true
}

// escapeSegment escapes s as one path segment. "." and ".." are escaped
// too: bare, the server would clean them away as relative segments.
func escapeSegment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

// Endpoint is a Route with the types of its request and answer, so the
// client helpers (Do, Stream, ...) and the server helpers (Handle,
// HandleStream) agree at compile time on what travels.
type Endpoint[In, Out any] struct {
	route Route
}

// Route returns the endpoint's description.
func (e Endpoint[In, Out]) Route() Route { return e.route }

// Decode reads the request value of an incoming request: from its query
// or its JSON body, per the route's Carrier. Errors wrap errdefs.ErrInvalid.
func (e Endpoint[In, Out]) Decode(r *http.Request) (In, error) {
	var in In
	switch e.route.Carrier {
	case CarryQuery:
		return in, decodeQuery(r.URL.Query(), &in)
	case CarryJSON:
		return in, DecodeJSON(r, &in)
	}
	return in, nil
}

// routes is the table, in declaration order; def adds to it.
var routes []Route

// Routes returns every endpoint of the API.
func Routes() []Route { return append([]Route(nil), routes...) }

// def declares an endpoint of the table.
func def[In, Out any](method, pattern string, kind Kind) Endpoint[In, Out] {
	e := newEndpoint[In, Out](method, pattern, kind, "")
	routes = append(routes, e.route)
	return e
}

// defUpgrade declares a table endpoint that switches to protocol.
func defUpgrade[In any](pattern, protocol string) Endpoint[In, net.Conn] {
	e := newEndpoint[In, net.Conn](http.MethodPost, pattern, KindUpgrade, protocol)
	routes = append(routes, e.route)
	return e
}

// newEndpoint describes an endpoint without adding it to the table. The
// request type decides the Carrier. TestRouteTable checks what the types
// promise (a text endpoint answers io.ReadCloser, a GET has no body, ...).
func newEndpoint[In, Out any](method, pattern string, kind Kind, protocol string) Endpoint[In, Out] {
	in := reflect.TypeFor[In]()
	carrier := CarryJSON
	switch {
	case in == reflect.TypeFor[None]():
		carrier = CarryNone
	case isQueryType(in):
		carrier = CarryQuery
	}
	return Endpoint[In, Out]{Route{
		Method: method, Pattern: pattern, Kind: kind, Carrier: carrier,
		In: in, Out: reflect.TypeFor[Out](), Protocol: protocol,
	}}
}

// check reports what is wrong with a route's declaration.
func (r Route) check() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if !strings.HasPrefix(r.Pattern, Version+"/") || strings.ContainsAny(r.Pattern, "?#") {
		bad("pattern must be a path under %s", Version)
	}
	if r.Carrier == CarryJSON && (r.Method == http.MethodGet || r.Method == http.MethodDelete || r.Kind == KindUpload) {
		bad("a %s %s request cannot carry a JSON body (%v)", r.Method, r.Kind, r.In)
	}
	if r.Carrier == CarryQuery {
		if err := checkQueryType(r.In); err != nil {
			bad("%v", err)
		}
	}
	var answer reflect.Type // what the kind's client helper returns
	switch r.Kind {
	case KindText:
		answer = reflect.TypeFor[io.ReadCloser]()
	case KindUpgrade:
		answer = reflect.TypeFor[net.Conn]()
	}
	if answer != nil && r.Out != answer {
		bad("a %s endpoint answers %v, not %v", r.Kind, answer, r.Out)
	}
	if (r.Kind == KindUpgrade) != (r.Protocol != "") {
		bad("an upgrade endpoint, and only one, names its protocol")
	}
	if r.Kind < KindJSON || r.Kind > KindUpgrade {
		bad("unknown kind %v", r.Kind)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %s", r, strings.Join(errs, "; "))
	}
	return nil
}
