// Package pipedrivetest is a fake Pipedrive company for tests and the demo
// sandbox: an http.Handler that speaks Pipedrive's real paths and JSON (v1
// and v2 envelopes, errors), serves a connectortest.Backend, applies the
// faults injected into it, checks bearer tokens and their scopes, sends
// rate-limit headers on every API answer (and 429 past the window), and
// implements the OAuth authorize and token endpoints: HTTP Basic client
// authentication, hour-long access tokens, refresh tokens that die after
// 60 days unused, and api_domain pointing at the fake itself.
//
// Every request it receives and every response it sends is validated
// against Pipedrive's own OpenAPI documents (see SpecsDir) with
// kin-openapi. A violation is recorded (Violations), reported to
// OnViolation (tests wire it to t.Error), and an invalid request is
// answered 400 without reaching the Backend. The documents are loaded once
// per process.
//
//	b := connectortest.NewBackend()
//	h, err := pipedrivetest.NewHandler(b)
//	srv := httptest.NewServer(h)
//	hc := pipedrivetest.BearerClient(srv.Client(), h.AccessToken)
//	c := pipedrive.New(connectors.Credentials{BaseURL: srv.URL, HTTPClient: hc})
//
// Served: GET /v1/users, /api/v2/persons/search, /api/v2/persons,
// /api/v2/deals, /v1/leads, /v1/leads/archived; POST /v1/callLogs,
// /v1/notes, /api/v2/activities, /api/v2/persons, /api/v2/deals,
// /v1/leads; PUT /v1/notes/{id}; GET /oauth/authorize; POST /oauth/token.
//
// Where the fake models what the documents cannot say:
//   - Persons are the Backend's contacts; deals and leads belong to the
//     first contact they are linked to. Closed deals are "won", closed
//     leads archived. Lead ids are the Backend's ids, not UUIDs (the
//     documents' uuid format is not checked).
//   - Person search with fields=phone matches phones only: with
//     exact_match the whole stored string (case-insensitive), else the
//     term's digits anywhere in a phone's digits, so near-misses come back.
//   - A call log is the Backend's call record. Pipedrive has no call
//     direction: the fake reads it from the subject ("Outbound…" or not).
//     The category, value, comment and recording link are read back from
//     the HTML note ("Category: …", "Value: …", "Recording: <a href>").
//     A note naming "(call log <id>)" is an update of that call, as is a
//     later PUT of that note.
//   - Writes are checked as Pipedrive checks them: a call log on a deal
//     and a lead at once, a record or user that does not exist, a start
//     or end time that is not YYYY-MM-DD HH:MM:SS, an unknown activity
//     type are 400 (404 for a missing record).
package pipedrivetest

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/routers"

	"github.com/crmsync/crmsync/connectors/connectortest"
)

// Defaults NewHandler sets.
const (
	DefaultClientID     = "pipedrivetest-client-id"
	DefaultClientSecret = "pipedrivetest-client-secret"
	DefaultAccessToken  = "pipedrivetest-access-token"
	DefaultRedirectURI  = "https://crmsync.example.com/connect/pipedrive/callback"
	// CompanyID is the company the fake is.
	CompanyID = 7777
	// DefaultRateLimit is the burst window's size, in requests per token
	// (Pipedrive's Enterprise window for OAuth tokens).
	DefaultRateLimit = 480
	// DefaultRateWindow is Pipedrive's burst window.
	DefaultRateWindow = 2 * time.Second
)

// AccessTokenTTL is how long an access token the fake issues lives.
const AccessTokenTTL = time.Hour

// RefreshTokenIdleTTL is how long an unused refresh token lives.
const RefreshTokenIdleTTL = 60 * 24 * time.Hour

// Handler is the fake Pipedrive company. Set its fields before serving.
type Handler struct {
	// Backend is the CRM account served.
	Backend *connectortest.Backend
	// ClientID and ClientSecret are the OAuth app credentials the token
	// endpoint accepts (HTTP Basic).
	ClientID, ClientSecret string
	// AccessToken is accepted with every scope and never expires, for
	// tests that skip the OAuth flow. Empty disables it.
	AccessToken string
	// Scopes are the app's registered scopes, which every token the OAuth
	// flow issues holds; nil means every scope.
	Scopes []string
	// APIDomain is the api_domain token answers name; empty means the
	// fake's own URL as the request reached it.
	APIDomain string
	// RateLimit and RateWindow are the burst window per token (0: the
	// defaults). Every API answer reports it in x-ratelimit-* headers; a
	// request past it is answered 429.
	RateLimit  int
	RateWindow time.Duration
	// RotateRefreshTokens makes every refresh return a new refresh token
	// and retire the old one (Pipedrive does not say whether it rotates).
	RotateRefreshTokens bool
	// OnViolation, when set, is called with every spec violation.
	OnViolation func(error)
	// NoValidation skips spec validation (to measure the client alone).
	NoValidation bool
	// Now is the clock tokens expire by; nil means time.Now.
	Now func() time.Time

	specs     *connectortest.Spec
	mux       *http.ServeMux
	muxOnce   sync.Mutex
	mu        sync.Mutex
	tokens    map[string]time.Time // access token → expiry
	refresh   map[string]time.Time // refresh token → last use
	codes     map[string]string    // authorization code → redirect_uri
	refreshes int
	rejected  int
	revoked   int
	windows   map[string]*window
	overLimit int
	notes     map[int64]*note
	lastNote  int64
	failures  []error
}

// NewHandler returns a Handler serving b with the default credentials. It
// fails when Pipedrive's OpenAPI documents cannot be found or loaded.
func NewHandler(b *connectortest.Backend) (*Handler, error) {
	s, err := loadSpecs()
	if err != nil {
		return nil, err
	}
	return &Handler{
		Backend:      b,
		ClientID:     DefaultClientID,
		ClientSecret: DefaultClientSecret,
		AccessToken:  DefaultAccessToken,
		specs:        s,
		tokens:       map[string]time.Time{},
		refresh:      map[string]time.Time{},
		codes:        map[string]string{},
		windows:      map[string]*window{},
		notes:        map[int64]*note{},
	}, nil
}

// Violations returns the spec violations seen so far.
func (h *Handler) Violations() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.failures...)
}

func (h *Handler) violation(err error) {
	h.mu.Lock()
	h.failures = append(h.failures, err)
	h.mu.Unlock()
	if h.OnViolation != nil {
		h.OnViolation(err)
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) routes() *http.ServeMux {
	h.muxOnce.Lock()
	defer h.muxOnce.Unlock()
	if h.mux != nil {
		return h.mux
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /oauth/authorize", h.handleAuthorize)
	m.HandleFunc("POST /oauth/token", h.handleToken)
	m.HandleFunc("POST /oauth/revoke", h.handleRevoke)
	m.HandleFunc("POST /oauth/token/", h.handleToken)
	h.api(m, "GET /v1/users", h.handleUsers)
	h.api(m, "GET /v1/leads", h.handleLeads)
	h.api(m, "GET /v1/leads/archived", h.handleLeads)
	h.api(m, "POST /v1/leads", h.handleCreateLead)
	h.api(m, "POST /v1/callLogs", h.handleCreateCallLog)
	h.api(m, "POST /v1/notes", h.handleCreateNote)
	h.api(m, "PUT /v1/notes/{id}", h.handleUpdateNote)
	h.api(m, "GET /api/v2/persons/search", h.handleSearchPersons)
	h.api(m, "GET /api/v2/persons", h.handlePersons)
	h.api(m, "POST /api/v2/persons", h.handleCreatePerson)
	h.api(m, "GET /api/v2/deals", h.handleDeals)
	h.api(m, "POST /api/v2/deals", h.handleCreateDeal)
	h.api(m, "POST /api/v2/activities", h.handleCreateActivity)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint in the fake: "+r.Method+" "+r.URL.Path)
	})
	h.mux = m
	return m
}

// api registers an API handler behind fault injection and the token check.
func (h *Handler) api(m *http.ServeMux, pattern string, fn http.HandlerFunc) {
	m.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if h.intercept(w, r) || !h.authorized(w, r) {
			return
		}
		fn(w, r)
	})
}

// ServeHTTP validates r against the documents, counts it against the rate
// window, serves it, and validates the answer before sending it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mux := h.routes()
	api := strings.HasPrefix(r.URL.Path, "/v1/") || strings.HasPrefix(r.URL.Path, "/api/v2/")
	limited := api && h.countRequest(w.Header(), r)
	refuseLimited := func(w http.ResponseWriter) bool {
		if limited {
			writeRateLimited(w)
		}
		return limited
	}
	// Token revocation is documented in Pipedrive's guides
	// (pipedrive.readme.io/docs/app-uninstallation), not in the OpenAPI
	// documents, so there is nothing to validate it against.
	if h.NoValidation || h.specs == nil || r.URL.Path == "/oauth/revoke" {
		if !refuseLimited(w) {
			mux.ServeHTTP(w, r)
		}
		return
	}
	h.specs.Serve(w, r, mux, connectortest.Checks{Violation: h.violation, Refuse: writeError, Before: refuseLimited})
}

// intercept applies the Backend's next injected fault; it reports whether
// the request was answered.
func (h *Handler) intercept(w http.ResponseWriter, r *http.Request) bool {
	if !h.Backend.Intercept(w, r, errorBody) {
		return false
	}
	connectortest.MarkFault(w)
	return true
}

// errorBody renders Pipedrive's error JSON for an injected status.
func errorBody(status int) []byte {
	msg := "Bad request"
	switch {
	case status == http.StatusUnauthorized:
		msg = "unauthorized access"
	case status == http.StatusForbidden:
		msg = "You don't have permission to access the resource."
	case status == http.StatusNotFound:
		msg = "A resource required to process the request was not found."
	case status == http.StatusTooManyRequests:
		msg = "Request over limit"
	case status >= 500:
		msg = "An internal server error occurred"
	}
	return errorJSON(msg)
}

func errorJSON(msg string) []byte {
	b, _ := json.Marshal(map[string]any{
		"success":         false,
		"error":           msg,
		"error_info":      "Please check developers.pipedrive.com for more information about Pipedrive API.",
		"data":            nil,
		"additional_data": nil,
	})
	return b
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorJSON(msg))
}

// writeData answers {"success":true,"data":data} plus additional_data when
// extra is not nil.
func writeData(w http.ResponseWriter, data, extra any) {
	env := map[string]any{"success": true, "data": data}
	if extra != nil {
		env["additional_data"] = extra
	}
	b, err := json.Marshal(env)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// decode reads r's JSON body into v, answering 400 on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid JSON: "+err.Error())
		return false
	}
	return true
}

// route returns the operation the validator matched, or nil.
func route(r *http.Request) *routers.Route { return connectortest.Route(r) }
