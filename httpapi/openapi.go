package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"go.yaml.in/yaml/v3"
)

// openAPIYAML is the API's OpenAPI 3.1 description: the contract. The
// console's TypeScript types are generated from it, the route table must
// match it (TestOpenAPIDescribesEveryRoute) and every response of the
// end-to-end tests is checked against it (internal/openapitest).
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPI returns the API's OpenAPI 3.1 description (YAML).
func OpenAPI() []byte { return append([]byte(nil), openAPIYAML...) }

// openAPIJSON is openapi.yaml as served, converted once. The file is
// embedded, so a conversion error can only come with a change to it, which
// the tests would catch first.
var openAPIJSON = mustJSON(openAPIYAML)

func mustJSON(y []byte) []byte {
	var doc any
	if err := yaml.Unmarshal(y, &doc); err != nil {
		panic(fmt.Sprintf("openapi.yaml: %v", err))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("openapi.yaml as JSON: %v", err))
	}
	return b
}

// openAPI is GET /api/openapi.json.
func (a *api) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIJSON)
	return nil
}
