// Package web serves the operator console: the Vue application in this
// folder (src/), built by Vite into dist/console and embedded in the
// binary. The HTTP API hands it the GET requests its routes do not match
// outside /api/, /riverui/ and the health and metrics paths
// (httpapi.Deps.Console), so this package knows nothing of the API.
//
// A binary built without Node.js embeds only dist/placeholder.html (it is
// committed; dist/console is build output and ignored by git), and every
// console route answers with that page, which says how to build the
// console. `go build` therefore never needs Node.
//
// Caching: Vite names everything under assets/ by its content hash, so
// those files are cached for a year (immutable); index.html and other
// files are served with no-cache (revalidated through their ETag), so a
// new binary is picked up on the next load.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// Handler serves the console embedded in this binary, or the placeholder
// page when it was built without the console.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return NewHandler(sub)
}

// Built reports whether this binary embeds the built console (rather than
// the placeholder page).
func Built() bool {
	_, err := fs.Stat(dist, "dist/console/index.html")
	return err == nil
}

// NewHandler serves the console from fsys, which is laid out like dist/:
// console/index.html and console/assets/... when the console is built,
// placeholder.html otherwise.
func NewHandler(fsys fs.FS) http.Handler {
	h := &handler{files: map[string]*file{}}
	if console, err := fs.Sub(fsys, "console"); err == nil {
		if _, err := fs.Stat(console, "index.html"); err == nil {
			h.load(console)
		}
	}
	h.index = h.files["index.html"]
	if h.index == nil {
		h.files = map[string]*file{} // half a build is no console
		if b, err := fs.ReadFile(fsys, "placeholder.html"); err == nil {
			h.index = newFile("placeholder.html", b)
		} else {
			h.index = newFile("placeholder.html", []byte(fallbackPlaceholder))
		}
	}
	return h
}

// fallbackPlaceholder is used when even the placeholder is missing (a
// test's file system, say).
const fallbackPlaceholder = `<!doctype html><meta charset="utf-8"><title>Bespin console: not built</title>` +
	`<p>The Bespin console is not built into this binary: run <code>make build</code> with Node.js installed.</p>`

type handler struct {
	files map[string]*file // by slash path without the leading slash
	index *file            // index.html, or the placeholder page
}

// file is one embedded file, read once, with its gzip form when that is
// smaller (text assets).
type file struct {
	name  string
	data  []byte
	gz    []byte
	etag  string
	ctype string
}

func newFile(name string, data []byte) *file {
	sum := sha256.Sum256(data)
	f := &file{name: name, data: data, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	f.ctype = mime.TypeByExtension(path.Ext(name))
	if f.ctype == "" {
		f.ctype = http.DetectContentType(data)
	}
	if compressible(f.ctype) && len(data) > 512 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(data)
		_ = zw.Close()
		if buf.Len() < len(data) {
			f.gz = buf.Bytes()
		}
	}
	return f
}

func compressible(ctype string) bool {
	for _, p := range []string{"text/", "application/javascript", "text/javascript", "application/json", "image/svg+xml", "application/manifest+json"} {
		if strings.HasPrefix(ctype, p) {
			return true
		}
	}
	return false
}

func (h *handler) load(fsys fs.FS) {
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir // .vite/manifest.json and the like: build metadata
			}
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		h.files[p] = newFile(p, b)
		return nil
	})
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := path.Clean("/" + r.URL.Path)

	name := strings.TrimPrefix(p, "/")
	if f := h.files[name]; f != nil && name != "index.html" {
		if strings.HasPrefix(name, "assets/") {
			h.serve(w, r, f, "public, max-age=31536000, immutable")
		} else {
			h.serve(w, r, f, "no-cache")
		}
		return
	}
	// A missing file is a 404: answering a script or an image with the
	// HTML page only hides the broken link. Console routes have no dot in
	// their last segment.
	if strings.HasPrefix(name, "assets/") || name != "" && name != "index.html" && strings.Contains(path.Base(name), ".") {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h.serve(w, r, h.index, "no-cache")
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, f *file, cacheControl string) {
	hd := w.Header()
	hd.Set("Cache-Control", cacheControl)
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(f.ctype, "text/html") {
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
	}
	data := f.data
	if f.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			hd.Set("Content-Encoding", "gzip")
			data = f.gz
		}
	}
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(data))
}

// contentSecurityPolicy allows the console's own scripts, styles and API
// (REST and WebSocket on the same origin), and blob: for raw-body
// downloads.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		if v, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			q, err := strconv.ParseFloat(v, 64)
			return err == nil && q > 0
		}
		return true
	}
	return false
}
