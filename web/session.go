package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Sessions of the admin pages are stateless: a cookie holding the signed
// session (employee, tenant, role, expiry, CSRF token), so any web process
// that shares the key serves them. The signature is HMAC-SHA256 under a key
// derived from CRMSYNC_SECRET_KEY; a purpose string goes into every MAC so
// that one kind of signed value (an OAuth flow) never passes for another (a
// session). Each request re-reads the employee, so a deleted or demoted
// employee loses access at once even though the cookie lives on.

// Cookie names.
const (
	sessionCookie = "crmsync_session"
	loginCookie   = "crmsync_login" // the login form's CSRF token
	flowCookie    = "crmsync_oauth" // one OAuth link attempt: state and PKCE verifier
	flashCookie   = "crmsync_flash" // a one-time message for the next page
)

// Signed value purposes.
const (
	purposeSession = "session"
	purposeLogin   = "login"
	purposeFlow    = "oauth-flow"
	purposeFlash   = "flash"
)

// DefaultSessionTTL is how long a sign-in lasts.
const DefaultSessionTTL = 12 * time.Hour

// session is what the session cookie holds.
type session struct {
	EmployeeID int64  `json:"e"`
	TenantID   int64  `json:"t"`
	Role       string `json:"r"`
	Expires    int64  `json:"x"` // unix seconds
	CSRF       string `json:"c"`
}

var errBadSignature = errors.New("web: bad or expired signed value")

// signer signs and opens the admin pages' cookies.
type signer struct{ key []byte }

func (s signer) mac(purpose, payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// sign encodes v as base64url(JSON) "." base64url(MAC).
func (s signer) sign(purpose string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(purpose, payload)), nil
}

// open verifies value and decodes it into v.
func (s signer) open(purpose, value string, v any) error {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok || len(s.key) == 0 {
		return errBadSignature
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(purpose, payload)) {
		return errBadSignature
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return errBadSignature
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errBadSignature
	}
	return nil
}

// randomToken returns n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// setCookie writes a signed cookie for path that lives ttl (0: delete it).
func (s *Server) setCookie(w http.ResponseWriter, name, path, value string, ttl time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: path,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.Admin.secure(),
	}
	if ttl > 0 {
		c.MaxAge = int(ttl / time.Second)
		c.Expires = s.Admin.now().Add(ttl)
	} else {
		c.MaxAge = -1
		c.Value = ""
	}
	http.SetCookie(w, c)
}

// readSigned opens the signed cookie name into v; false when it is missing
// or does not verify.
func (s *Server) readSigned(r *http.Request, name, purpose string, v any) bool {
	c, err := r.Cookie(name)
	if err != nil {
		return false
	}
	return s.Admin.signer().open(purpose, c.Value, v) == nil
}

// startSession signs in an employee: a fresh session with a fresh CSRF
// token.
func (s *Server) startSession(w http.ResponseWriter, tenantID, employeeID int64, role string) error {
	ttl := s.Admin.sessionTTL()
	sess := session{EmployeeID: employeeID, TenantID: tenantID, Role: role,
		Expires: s.Admin.now().Add(ttl).Unix(), CSRF: randomToken(32)}
	v, err := s.Admin.signer().sign(purposeSession, sess)
	if err != nil {
		return err
	}
	s.setCookie(w, sessionCookie, "/", v, ttl)
	return nil
}

// readSession returns the request's valid, unexpired session.
func (s *Server) readSession(r *http.Request) (session, bool) {
	var sess session
	if !s.readSigned(r, sessionCookie, purposeSession, &sess) {
		return session{}, false
	}
	if sess.EmployeeID <= 0 || sess.TenantID <= 0 || sess.CSRF == "" || s.Admin.now().Unix() >= sess.Expires {
		return session{}, false
	}
	return sess, true
}

// flash keeps a message for the next page the browser shows.
type flash struct {
	Kind string `json:"k"` // ok | error | warn
	Text string `json:"t"`
}

func (s *Server) setFlash(w http.ResponseWriter, kind, text string) {
	if len(text) > 1500 { // a cookie holds about 4 KB
		text = text[:1500] + "…"
	}
	if v, err := s.Admin.signer().sign(purposeFlash, flash{Kind: kind, Text: text}); err == nil {
		s.setCookie(w, flashCookie, "/", v, time.Minute)
	}
}

// takeFlash returns the pending message, if any, and clears it.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	var f flash
	if !s.readSigned(r, flashCookie, purposeFlash, &f) {
		return nil
	}
	s.setCookie(w, flashCookie, "/", "", 0)
	return &f
}
