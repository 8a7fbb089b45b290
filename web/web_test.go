package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

const indexHTML = `<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="app"></div></body></html>`

var builtFS = fstest.MapFS{
	"placeholder.html":               {Data: []byte("<p>placeholder: run make build</p>")},
	"console/index.html":             {Data: []byte(indexHTML)},
	"console/assets/index-abc123.js": {Data: []byte(strings.Repeat("console.log('bespin');\n", 100))},
	"console/favicon.svg":            {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
	"console/.vite/manifest.json":    {Data: []byte(`{}`)},
}

var unbuiltFS = fstest.MapFS{
	"placeholder.html": {Data: []byte("<p>placeholder: run make build</p>")},
}

func get(t *testing.T, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestConsoleRoutesServeIndexWithoutCaching(t *testing.T) {
	t.Parallel()
	h := NewHandler(builtFS)
	for _, p := range []string{"/", "/jobs", "/jobs/42", "/webhooks/0b7e2d1c-9a43-4c1e-9d6a-1f0f5a8b9c10", "/stats", "/index.html"} {
		w := get(t, h, p)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d, want 200", p, w.Code)
		}
		if w.Body.String() != indexHTML {
			t.Errorf("GET %s: body is not index.html: %q", p, w.Body.String())
		}
		if got := w.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", p, got)
		}
		if got := w.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
			t.Errorf("GET %s: Content-Type %q", p, got)
		}
		if w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no Content-Security-Policy", p)
		}
	}
}

func TestHashedAssetsAreCachedForAYear(t *testing.T) {
	t.Parallel()
	h := NewHandler(builtFS)
	w := get(t, h, "/assets/index-abc123.js")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if got := w.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control %q", got)
	}
	if got := w.Header().Get("Content-Type"); !strings.Contains(got, "javascript") {
		t.Errorf("Content-Type %q", got)
	}
	if !strings.HasPrefix(w.Body.String(), "console.log") {
		t.Errorf("body %q", w.Body.String()[:20])
	}
	// Unhashed files next to index.html are revalidated, not pinned.
	if got := get(t, h, "/favicon.svg").Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("favicon Cache-Control %q, want no-cache", got)
	}
}

func TestMissingFilesAreNotAnsweredWithThePage(t *testing.T) {
	t.Parallel()
	h := NewHandler(builtFS)
	for _, p := range []string{"/assets/index-old999.js", "/assets/nothing", "/robots.txt", "/jobs/app.js", "/.vite/manifest.json"} {
		w := get(t, h, p)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, w.Code)
		}
		if strings.Contains(w.Body.String(), "<div id=\"app\">") {
			t.Errorf("GET %s: answered with index.html", p)
		}
	}
}

func TestPlaceholderWhenTheConsoleIsNotBuilt(t *testing.T) {
	t.Parallel()
	h := NewHandler(unbuiltFS)
	for _, p := range []string{"/", "/jobs/42"} {
		w := get(t, h, p)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "make build") {
			t.Errorf("GET %s: %d %q, want the placeholder page", p, w.Code, w.Body.String())
		}
		if got := w.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q (a cached placeholder would hide a later build)", p, got)
		}
	}
	if w := get(t, h, "/assets/index-abc123.js"); w.Code != http.StatusNotFound {
		t.Errorf("asset without a console: %d, want 404", w.Code)
	}
	// A build that lost its index.html is no console either.
	half := fstest.MapFS{"placeholder.html": unbuiltFS["placeholder.html"], "console/assets/x-1.js": {Data: []byte("x")}}
	if w := get(t, NewHandler(half), "/"); !strings.Contains(w.Body.String(), "make build") {
		t.Errorf("half a build: %q, want the placeholder", w.Body.String())
	}
}

func TestEmbeddedFilesAreTheConsoleOrThePlaceholder(t *testing.T) {
	t.Parallel()
	w := get(t, Handler(), "/")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	if Built() {
		if !strings.Contains(body, `id="app"`) {
			t.Errorf("built console: / is not the app's index.html: %.200s", body)
		}
	} else if !strings.Contains(body, "make build") {
		t.Errorf("no console built: / is not the placeholder: %.200s", body)
	}
}

func TestGzipAndRevalidation(t *testing.T) {
	t.Parallel()
	h := NewHandler(builtFS)
	w := get(t, h, "/assets/index-abc123.js", "Accept-Encoding", "br, gzip")
	if w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", w.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != string(builtFS["console/assets/index-abc123.js"].Data) {
		t.Error("gzip body does not decode to the file")
	}
	if w := get(t, h, "/assets/index-abc123.js", "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that refused it")
	}

	etag := get(t, h, "/").Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on index.html")
	}
	if w := get(t, h, "/jobs", "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", w.Code)
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodHead, "/", nil)
	w := httptest.NewRecorder()
	NewHandler(builtFS).ServeHTTP(w, r)
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d body bytes", w.Code, w.Body.Len())
	}
}
