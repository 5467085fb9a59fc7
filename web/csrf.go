package web

import (
	"crypto/subtle"
	"net/http"
	"net/url"
)

// CSRF protection of the admin pages: every POST form carries the
// session's random token in a hidden "csrf" field, compared in constant
// time (the synchronizer-token pattern; the token never travels in a URL).
// The login form, which has no session yet, gets its token from a signed
// cookie of its own (crmsync_login), which the form must echo. SameSite=Lax
// cookies already keep other sites' POSTs from carrying the session; the
// token also stops same-site attacks and form replays after sign-out.

// csrfField is the form field that carries the token.
const csrfField = "csrf"

// maxForm bounds an admin form's body.
const maxForm = 64 << 10

// parseForm reads a POST form, bounded by maxForm.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	if r.PostForm != nil {
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	return r.ParseForm()
}

// validCSRF reports whether the request's form carries token. The form
// must already be parsed (requireRole parses it).
func validCSRF(r *http.Request, token string) bool {
	if r.PostForm == nil {
		if err := r.ParseForm(); err != nil {
			return false
		}
	}
	got := r.PostForm.Get(csrfField)
	return token != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// urlQueryEscape escapes s for a query value.
func urlQueryEscape(s string) string { return url.QueryEscape(s) }
