package fctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Contract is Firecracker's swagger API, parsed from the spec file, that
// requests are validated against.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
	// Version is the spec's info.version ("1.16.1").
	Version string
}

// LoadContract parses the swagger 2.0 file at path (Firecracker's
// firecracker.yaml) and prepares it for validation.
//
// The swagger leaves additionalProperties unset on every request object,
// which in JSON Schema means "anything goes". Firecracker's request structs
// are serde types with deny_unknown_fields, so it answers 400 to a field it
// does not know; the contract applies that rule to every object schema the
// spec does not explicitly open (MmdsContentsObject says
// additionalProperties: true, and stays open). A misspelt field in banger's
// requests therefore fails here as it would against the real VMM.
func LoadContract(path string) (*Contract, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the tester names the spec file
	if err != nil {
		return nil, fmt.Errorf("read firecracker spec: %w", err)
	}
	var doc2 openapi2.T
	if err := openapi2.UnmarshalFromData(data, &doc2); err != nil {
		return nil, fmt.Errorf("parse firecracker spec %s: %w", path, err)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("convert firecracker spec %s to openapi 3: %w", path, err)
	}
	// The socket has no host: match on paths alone.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	closeObjects(doc)
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("firecracker spec %s is not valid openapi: %w", path, err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route firecracker spec: %w", err)
	}
	return &Contract{doc: doc, router: router, Version: doc.Info.Version}, nil
}

// closeObjects sets additionalProperties: false on every object schema
// with properties whose additionalProperties the spec left unset.
func closeObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			no := false
			s.AdditionalProperties.Has = &no
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		for _, sub := range append(append(append(openapi3.SchemaRefs{}, s.AllOf...), s.AnyOf...), s.OneOf...) {
			walk(sub)
		}
	}
	for _, ref := range doc.Components.Schemas {
		walk(ref)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					walk(mt.Schema)
				}
			}
		}
	}
}

// Operation is a request the contract accepted.
type Operation struct {
	// ID is the spec's operationId ("putGuestDriveByID").
	ID string
	// Template is the spec's path ("/drives/{drive_id}").
	Template string
	// Params holds the path parameters by name.
	Params map[string]string
}

// Validate checks method, path and body of a request against the contract.
// It does not consume r.Body: the body is passed separately.
func (c *Contract) Validate(ctx context.Context, method, path string, body []byte) (Operation, error) {
	u := &url.URL{Path: path}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return Operation{}, err
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		var re *routers.RouteError
		if errors.As(err, &re) {
			return Operation{}, fmt.Errorf("invalid request method and/or path: %s %s", method, path)
		}
		return Operation{}, err
	}
	op := Operation{ID: route.Operation.OperationID, Template: route.Path, Params: params}
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options:    requestOptions(),
	}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		return op, fmt.Errorf("%s %s does not match the contract: %s", method, path, oneLine(err))
	}
	return op, nil
}

// ValidateResponse checks an answer the fake gives against the contract, so
// the fake cannot drift from what a real Firecracker returns.
func (c *Contract) ValidateResponse(ctx context.Context, method, path string, status int, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, (&url.URL{Path: path}).String(), nil)
	if err != nil {
		return err
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return err
	}
	hdr := http.Header{}
	if len(body) > 0 {
		hdr.Set("Content-Type", "application/json")
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 hdr,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return fmt.Errorf("response %d to %s %s does not match the contract: %s", status, method, path, oneLine(err))
	}
	return nil
}

func requestOptions() *openapi3filter.Options {
	o := &openapi3filter.Options{
		RejectWhenRequestBodyNotSpecified: true,
		SkipSettingDefaults:               true,
	}
	// Say where and why, not the whole schema.
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		if ptr := err.JSONPointer(); len(ptr) > 0 {
			return "/" + strings.Join(ptr, "/") + ": " + err.Reason
		}
		return err.Reason
	})
	return o
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
