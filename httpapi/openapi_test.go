package httpapi_test

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bespin/bespin/httpapi"
	"github.com/bespin/bespin/internal/openapitest"
)

// Every response these tests receive is checked against openapi.yaml.
func TestMain(m *testing.M) {
	http.DefaultClient.Transport = openapitest.Transport(nil)
	os.Exit(m.Run())
}

// The description and the route table list the same operations: a route
// without a description, or a description without a route, fails.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Load()
	require.NoError(t, err)

	// Subtrees of the mux the description leaves out, with why. (The
	// console is no route: it answers GETs no route matches.)
	undescribed := map[string]string{
		"/riverui/": "River UI: its own app and API (riverqueue.com/riverui)",
	}
	param := regexp.MustCompile(`\{[^}]*\}`) // OpenAPI and ServeMux may name a segment differently
	var routes, described []string
	for _, pattern := range httpapi.RoutePatterns() {
		method, path, found := strings.Cut(pattern, " ")
		if !found {
			require.Contains(t, undescribed, pattern, "route %q has no method: describe it, or list it here with why", pattern)
			continue
		}
		path = strings.TrimSuffix(path, "{$}") // GET /api/{$} is GET /api/ exactly
		routes = append(routes, method+" "+param.ReplaceAllString(path, "{}"))
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described = append(described, method+" "+param.ReplaceAllString(path, "{}"))
		}
	}
	slices.Sort(routes)
	slices.Sort(described)
	require.Equal(t, routes, described, "routes (left) and operations in openapi.yaml (right) differ")
}

// GET /api/openapi.json serves the description, linked from the index.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	res := b.get(t, "/api/openapi.json", "")
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), `"openapi":"3.1.0"`)
	res = b.get(t, "/api/", "")
	require.Contains(t, string(res.body), `"openapi":"/api/openapi.json"`)
}
