package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// riverUI serves River UI (Deps.RiverUI, mounted with the prefix
// /riverui) to authenticated callers only: it can cancel, retry and delete
// any job. A browser that navigates to it without a session is sent to
// the console's sign-in page, which brings it back (next=); everything
// else unauthenticated, River UI's own API included, gets the usual JSON
// 401. Cookie-authenticated writes from other origins are refused like
// anywhere else (authenticate).
func (a *api) riverUI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := a.authenticate(r)
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
		case unauthorized(err) && navigation(r):
			http.Redirect(w, r, signInPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		default:
			a.writeError(w, r, err)
		}
	})
}

// signInPath is the console's sign-in page.
const signInPath = "/signin"

// navigation reports whether r is a browser loading a page (not River
// UI's API).
func navigation(r *http.Request) bool {
	if r.Method != http.MethodGet || strings.HasPrefix(r.URL.Path, "/riverui/api/") {
		return false
	}
	return r.Header.Get("Sec-Fetch-Mode") == "navigate" || strings.Contains(r.Header.Get("Accept"), "text/html")
}
