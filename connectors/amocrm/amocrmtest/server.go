// Package amocrmtest is a fake amoCRM account for tests and the demo
// sandbox. It speaks amo API v4's paths, JSON and errors as
// crm/API-NOTES.md describes them (amo publishes no spec), serves a
// connectortest.Backend, applies the Backend's injected faults, and runs the
// OAuth token endpoint with single-use refresh tokens.
//
//	b := connectortest.NewBackend()
//	srv := amocrmtest.NewServer(b)
//	defer srv.Close()
//	c := amocrm.New(connectors.Credentials{BaseURL: srv.URL, HTTPClient: srv.APIClient()})
//
// Served: GET /api/v4/users, /contacts, /companies, /leads (query,
// filter[id][], filter[responsible_user_id], with=leads, page, limit; an
// empty page is 204 No Content); POST /api/v4/contacts, /leads/complex,
// /calls, /tasks; POST and PATCH /api/v4/{leads,contacts,companies}/notes
// (call notes are the Backend's call records); POST /oauth2/access_token.
// API requests need "Authorization: Bearer" with a live access token (401
// otherwise).
package amocrmtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors/amocrm"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// The OAuth app the fake knows by default.
const (
	ClientID     = "amo-client-id"
	ClientSecret = "amo-client-secret"
	RedirectURI  = "https://crmsync.example.com/connect/amocrm/callback"
)

// Handler is the fake amo account as an http.Handler. It is safe for
// concurrent use.
type Handler struct {
	Backend *connectortest.Backend
	// AccessTTL is the lifetime of issued access tokens (amo: 24 h).
	AccessTTL time.Duration

	mux         *http.ServeMux
	mu          sync.Mutex
	access      map[string]time.Time // access token → expiry
	refresh     map[string]bool      // refresh token → still unused
	codes       map[string]bool
	refreshes   int
	rejected    int
	tokenFaults []connectortest.Fault
}

// NewHandler returns a fake amo account serving b.
func NewHandler(b *connectortest.Backend) *Handler {
	h := &Handler{
		Backend:   b,
		AccessTTL: 24 * time.Hour,
		mux:       http.NewServeMux(),
		access:    map[string]time.Time{},
		refresh:   map[string]bool{},
		codes:     map[string]bool{},
	}
	h.routes()
	return h
}

func (h *Handler) routes() {
	h.mux.HandleFunc("POST /oauth2/access_token", h.handleToken)
	h.api("GET /api/v4/users", h.handleUsers)
	h.api("GET /api/v4/contacts", h.handleHolders)
	h.api("GET /api/v4/companies", h.handleHolders)
	h.api("GET /api/v4/leads", h.handleLeads)
	h.api("POST /api/v4/contacts", h.handleCreateContacts)
	h.api("POST /api/v4/leads/complex", h.handleComplex)
	h.api("POST /api/v4/calls", h.handleCalls)
	h.api("POST /api/v4/tasks", h.handleTasks)
	h.api("POST /api/v4/{type}/notes", h.handleNotes)
	h.api("PATCH /api/v4/{type}/notes", h.handleNotes)
}

// api registers an API handler behind fault injection and the token check.
func (h *Handler) api(pattern string, fn http.HandlerFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if h.Backend.Intercept(w, r, problemBody) {
			return
		}
		if !h.authorized(r) {
			writeProblem(w, http.StatusUnauthorized, "Необходима авторизация")
			return
		}
		fn(w, r)
	})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.access[tok]
	return ok && time.Now().Before(exp)
}

func randomToken(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// IssueToken mints a token pair as a completed OAuth link would, with the
// given access-token expiry (in the past for an expired token).
func (h *Handler) IssueToken(expiry time.Time) *oauth2.Token {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mint(expiry)
}

// mint issues a token pair; callers hold h.mu.
func (h *Handler) mint(expiry time.Time) *oauth2.Token {
	tok := &oauth2.Token{
		AccessToken:  randomToken("at-"),
		RefreshToken: randomToken("rt-"),
		TokenType:    "Bearer",
		Expiry:       expiry,
	}
	h.access[tok.AccessToken] = expiry
	h.refresh[tok.RefreshToken] = true
	return tok
}

// IssueCode returns an authorization code the token endpoint accepts once.
func (h *Handler) IssueCode() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	code := randomToken("code-")
	h.codes[code] = true
	return code
}

// RevokeAccess makes an access token fail with 401, as amo does after
// revoking an integration's tokens.
func (h *Handler) RevokeAccess(accessToken string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.access, accessToken)
}

// InjectTokenFault makes the token endpoint answer the next request with f
// (only Status, RetryAfter and Delay apply).
func (h *Handler) InjectTokenFault(f connectortest.Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokenFaults = append(h.tokenFaults, f)
}

// Refreshes returns how many refresh grants succeeded.
func (h *Handler) Refreshes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refreshes
}

// Rejected returns how many refresh grants presented a spent or unknown
// refresh token.
func (h *Handler) Rejected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rejected
}

// Config returns the fake's OAuth app for an account at baseURL.
func Config(baseURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     ClientID,
		ClientSecret: ClientSecret,
		RedirectURL:  RedirectURI,
		Endpoint:     amocrm.Endpoint(baseURL),
	}
}

// Server is a Handler on an httptest.Server.
type Server struct {
	*httptest.Server
	*Handler
}

// NewServer starts a fake amo account serving b. Close it when done.
func NewServer(b *connectortest.Backend) *Server {
	h := NewHandler(b)
	return &Server{Server: httptest.NewServer(h), Handler: h}
}

// ServeHTTP resolves the ambiguity between the embedded types.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.Handler.ServeHTTP(w, r) }

// APIClient returns a client that sends a fresh valid access token with
// every request and nothing more: no refresh, no retries, no rate limits.
func (s *Server) APIClient() *http.Client {
	tok := s.IssueToken(time.Now().Add(s.AccessTTL))
	return &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(tok),
		Base:   s.Client().Transport,
	}}
}

// problemBody is amo's application/problem+json error body.
func problemBody(status int) []byte {
	b, _ := json.Marshal(map[string]any{
		"title":  http.StatusText(status),
		"type":   fmt.Sprintf("https://httpstatus.es/%d", status),
		"status": status,
		"detail": http.StatusText(status),
	})
	return b
}

func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"title":  http.StatusText(status),
		"type":   fmt.Sprintf("https://httpstatus.es/%d", status),
		"status": status,
		"detail": detail,
	})
}

// writeValidation answers 400 with amo's validation-errors body.
func writeValidation(w http.ResponseWriter, requestID, path, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"validation-errors": []any{map[string]any{
			"request_id": requestID,
			"errors":     []any{map[string]string{"code": "NotSupportedChoice", "path": path, "detail": detail}},
		}},
		"title":  "Bad Request",
		"type":   "https://httpstatus.es/400",
		"status": 400,
		"detail": "Request validation failed",
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/hal+json")
	_ = json.NewEncoder(w).Encode(v)
}
