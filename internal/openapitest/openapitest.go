// Package openapitest holds Bespin to its OpenAPI description
// (httpapi/openapi.yaml) in tests: Transport wraps an HTTP client's
// transport so that every response it receives is checked against the
// description, status included, and a response that does not match fails
// the request with an error saying why. Tests call the server through it
// (TestMain sets it on http.DefaultClient), so every response an
// end-to-end test sees is one the description allows.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/bespin/bespin/httpapi"
)

// Load parses and validates the description.
var Load = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI description: %w", err)
	}
	return doc, nil
})

var router = sync.OnceValues(func() (routers.Router, error) {
	doc, err := Load()
	if err != nil {
		return nil, err
	}
	// The one server is "/", relative to wherever the document was
	// fetched; the router wants absolute servers, or none to match paths
	// on any host, which is what a relative "/" means.
	d := *doc
	d.Servers = nil
	return legacy.NewRouter(&d)
})

// Transport returns base (http.DefaultTransport when nil) checking every
// response against the description.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return transport{base}
}

type transport struct{ base http.RoundTripper }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := check(req, resp.StatusCode, resp.Header, body); err != nil {
		return nil, fmt.Errorf("%s %s answered %d, which openapi.yaml does not allow: %w\nbody: %.500s",
			req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

// check checks one response to req against the description.
//
// A request no operation matches is checked only where the description
// speaks: under the first segments of its paths (/api, /healthz, ...). It
// must have been answered with the error body: 404, 405, or a 308 to the
// clean path. Elsewhere are the console's pages and River UI, which the
// description does not cover. A plain-text 431 is net/http's own answer to
// oversized headers, sent before the request reaches Bespin.
func check(req *http.Request, status int, header http.Header, body []byte) error {
	if status == http.StatusRequestHeaderFieldsTooLarge && strings.HasPrefix(header.Get("Content-Type"), "text/plain") {
		return nil
	}
	rt, err := router()
	if err != nil {
		return err
	}
	route, params, err := rt.FindRoute(req)
	var routeErr *routers.RouteError
	if errors.As(err, &routeErr) {
		if !described(req.URL.Path) {
			return nil
		}
		return checkMiss(status, header, body)
	}
	if err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status, Header: header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
}

// described reports whether path is under the first segment of a path of
// the description.
func described(path string) bool {
	doc, err := Load()
	if err != nil {
		return true
	}
	first := func(p string) string {
		seg, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		return seg
	}
	for p := range doc.Paths.Map() {
		if first(p) == first(path) {
			return true
		}
	}
	return false
}

// checkMiss checks the answer to a route the description does not have.
func checkMiss(status int, header http.Header, body []byte) error {
	switch status {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
	case http.StatusPermanentRedirect:
		if header.Get("Location") == "" {
			return errors.New("a 308 without Location")
		}
	default:
		return fmt.Errorf("no operation of the description matches, yet the answer is %d, not 404, 405 or 308", status)
	}
	if !strings.HasPrefix(header.Get("Content-Type"), "application/json") {
		return fmt.Errorf("content type %q, not JSON", header.Get("Content-Type"))
	}
	doc, err := Load()
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	return doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}
