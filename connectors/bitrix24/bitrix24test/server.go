// Package bitrix24test is a fake Bitrix24 portal for tests and the demo
// sandbox. Bitrix24 publishes no API spec, so it follows crm/API-NOTES.md §2
// and the b24restdocs pages it cites. It serves a connectortest.Backend,
// applies the Backend's injected faults, and runs the OAuth endpoints.
//
//	b := connectortest.NewBackend()
//	srv := bitrix24test.NewServer(b)
//	defer srv.Close()
//	c := bitrix24.New(connectors.Credentials{BaseURL: srv.BaseURL(), HTTPClient: srv.APIClient()})
//
// REST: /rest/<method> and /rest/<method>.json, GET or POST, parameters in
// the query, a form body (PHP-style keys: fields[ID], values[]) or a JSON
// body; method names are case-insensitive. Every call needs a live access
// token in the auth parameter; an Authorization header is ignored, as
// Bitrix24 ignores it (HeaderAuth counts requests that sent one). Answers
// use Bitrix24's envelope {"result", "total", "next", "time"} and its errors
// {"error", "error_description"}. Served: batch (≤50 commands, in order,
// $result[key][FIELD] references, halt), user.get (50 a page), user.current,
// telephony.externalCall.searchCrmEntities, crm.duplicate.findbycomm,
// crm.{lead,deal,contact,company}.{get,list},
// telephony.externalCall.{register,finish,attachRecord},
// crm.timeline.note.save (on call activities), crm.activity.todo.add,
// app.info (the app is installed).
//
// What it models, and where it is looser or stricter than Bitrix24:
//   - Phone searches (searchCrmEntities, findbycomm) are the Backend's
//     full-text search over the number's national digits: they return
//     near-misses, so clients must re-check phones. Companies are the
//     Backend's Record.Company contacts; deals hold no phones.
//   - register returns an unfinished call's CALL_ID again when the same
//     phone, type, user, line and EXTERNAL_CALL_ID come within 30 minutes;
//     finish, attachRecord and a second finish of a finished call fail with
//     "Call is not found". A call finished on a CRM record gets a call
//     activity, on which crm.timeline.note.save keeps one note (the
//     Backend call's Comment). One HTTP request writes each call once:
//     the Backend counts a batch's register, finish, record and note as
//     one write.
//   - The token endpoint is GET /oauth/token/ only: 30-second authorisation
//     codes, one-hour access tokens, rotating refresh tokens (a spent one is
//     invalid_grant). GET /oauth/authorize/ approves at once.
//   - Limit, when set, answers 503 QUERY_LIMIT_EXCEEDED past a leaky bucket
//     (DefaultQueryLimit: 50 at once, then 2 a second).
package bitrix24test

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

	"github.com/crmsync/crmsync/connectors/bitrix24"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// The OAuth app and installation the fake knows by default.
const (
	ClientID         = "local.bitrix24test.000001"
	ClientSecret     = "bitrix24test-client-secret"
	RedirectURI      = "https://crmsync.example.com/connect/bitrix24/callback"
	MemberID         = "b24test0123456789abcdef01234567"
	ApplicationToken = "bitrix24test-application-token"
)

// Lifetimes Bitrix24 documents.
const (
	AccessTTL = time.Hour
	CodeTTL   = 30 * time.Second
)

// Handler is the fake portal as an http.Handler. Set its fields before
// serving; it is safe for concurrent use.
type Handler struct {
	Backend *connectortest.Backend
	// AccessTTL is the lifetime of issued access tokens.
	AccessTTL time.Duration
	// ApplicationToken is the installation's token events carry.
	ApplicationToken string
	// CurrentUserID is the user the tokens belong to (user.current).
	CurrentUserID string
	// Scopes are the app's permissions; a method outside them answers 403
	// insufficient_scope (drop "telephony" to test the findbycomm path).
	Scopes []string
	// Limit is the request-intensity limit; the zero value is none.
	Limit QueryLimit
	// Now is the clock of tokens, codes, calls and the limit; nil means
	// time.Now.
	Now func() time.Time

	mux         *http.ServeMux
	mu          sync.Mutex // guards everything below and serialises API requests
	access      map[string]time.Time
	refresh     map[string]bool
	codes       map[string]time.Time
	refreshes   int
	rejected    int
	headerAuth  int
	tokenFaults []connectortest.Fault
	bucket      bucket
	calls       map[string]*call // by CALL_ID
	byKey       map[string]*call // the latest registration by what register matches
	activities  map[string]*call // by CRM_ACTIVITY_ID
	lastID      int
	externalIDs []string
}

// NewHandler returns a fake portal serving b.
func NewHandler(b *connectortest.Backend) *Handler {
	h := &Handler{
		Backend:          b,
		AccessTTL:        AccessTTL,
		ApplicationToken: ApplicationToken,
		CurrentUserID:    "1",
		Scopes:           []string{"crm", "telephony", "user"},
		mux:              http.NewServeMux(),
		access:           map[string]time.Time{},
		refresh:          map[string]bool{},
		codes:            map[string]time.Time{},
		calls:            map[string]*call{},
		byKey:            map[string]*call{},
		activities:       map[string]*call{},
	}
	h.mux.HandleFunc("GET /oauth/token/", h.handleToken)
	h.mux.HandleFunc("GET /oauth/authorize/", h.handleAuthorize)
	h.mux.HandleFunc("/rest/{method}", h.handleREST)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// HeaderAuth returns how many API requests carried an Authorization header
// (Bitrix24 ignores it; a client that needs it is broken).
func (h *Handler) HeaderAuth() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.headerAuth
}

// ExternalCallIDs returns the EXTERNAL_CALL_ID of every register, in order.
func (h *Handler) ExternalCallIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.externalIDs...)
}

// Server is a Handler on an httptest.Server.
type Server struct {
	*httptest.Server
	*Handler
}

// NewServer starts a fake portal serving b. Close it when done.
func NewServer(b *connectortest.Backend) *Server {
	h := NewHandler(b)
	return &Server{Server: httptest.NewServer(h), Handler: h}
}

// ServeHTTP resolves the ambiguity between the embedded types.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.Handler.ServeHTTP(w, r) }

// BaseURL is the portal's REST endpoint, as client_endpoint names it.
func (s *Server) BaseURL() string { return s.URL + "/rest/" }

// APIClient returns a client that sends a fresh valid access token with
// every request (as a Bearer header: the connector moves it) and nothing
// more: no refresh, no retries, no rate limits.
func (s *Server) APIClient() *http.Client {
	tok := s.IssueToken(s.now().Add(s.AccessTTL))
	return &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(tok),
		Base:   s.Client().Transport,
	}}
}

// Config returns the fake's OAuth app for a portal at baseURL.
func Config(baseURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     ClientID,
		ClientSecret: ClientSecret,
		RedirectURL:  RedirectURI,
		Endpoint:     bitrix24.Endpoint(baseURL),
	}
}

// apiError is an error answer.
type apiError struct {
	status      int
	code, descr string
}

func (e *apiError) Error() string { return e.code + ": " + e.descr }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, descr: fmt.Sprintf(format, args...)}
}

func notFound() *apiError { return errorf(http.StatusBadRequest, "", "Not found") }

// errorBody renders an injected fault as Bitrix24 would say it.
func errorBody(status int) []byte {
	codes := map[int][2]string{
		http.StatusBadRequest:          {"ERROR_ARGUMENT", "Invalid parameters"},
		http.StatusUnauthorized:        {"expired_token", "The access token provided has expired."},
		http.StatusForbidden:           {"ACCESS_DENIED", "Access denied"},
		http.StatusNotFound:            {"ERROR_NOT_FOUND", "Not found"},
		http.StatusTooManyRequests:     {"OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."},
		http.StatusServiceUnavailable:  {"QUERY_LIMIT_EXCEEDED", "Too many requests"},
		http.StatusInternalServerError: {"INTERNAL_SERVER_ERROR", "Internal server error"},
	}
	c, ok := codes[status]
	if !ok {
		c = [2]string{"ERROR_UNEXPECTED_ANSWER", "Server returned an unexpected response"}
	}
	b, _ := json.Marshal(map[string]string{"error": c[0], "error_description": c[1]})
	return b
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": e.code, "error_description": e.descr})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// timing is the "time" member of every answer.
func timing(now time.Time) map[string]any {
	ts := float64(now.UnixNano()) / 1e9
	return map[string]any{
		"start": ts, "finish": ts, "duration": 0, "processing": 0,
		"date_start": now.Format(time.RFC3339), "date_finish": now.Format(time.RFC3339),
		"operating_reset_at": now.Add(10 * time.Minute).Unix(), "operating": 0,
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// scopeOf is the permission a method needs.
func scopeOf(method string) string {
	scope, _, _ := strings.Cut(method, ".")
	switch scope {
	case "crm", "telephony", "user":
		return scope
	}
	return ""
}
