package httpapi

import (
	"net/http"

	"github.com/bespin/bespin/metrics"
)

// RoutePatterns lists the patterns of the route table, for
// TestOpenAPIDescribesEveryRoute. River UI is mounted (with a stand-in),
// so its pattern is listed too.
func RoutePatterns() []string {
	var out []string
	for _, rt := range newAPI(Deps{Metrics: metrics.New(), RiverUI: http.NotFoundHandler()}).routes() {
		out = append(out, rt.pattern)
	}
	return out
}
