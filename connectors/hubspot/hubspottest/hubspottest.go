// Package hubspottest is a fake HubSpot API for tests: an http.Handler that
// speaks HubSpot's real paths and JSON, serves a connectortest.Backend,
// applies the faults injected into it, checks bearer tokens and their
// scopes, and implements the OAuth authorize and token endpoints (30-minute
// access tokens, long-lived refresh tokens, PKCE).
//
// Every request it receives and every response it sends is validated
// against HubSpot's own OpenAPI documents (see SpecsDir) with kin-openapi.
// A violation is recorded (Violations), reported to OnViolation (tests wire
// it to t.Error), and an invalid request is answered 400 without reaching
// the Backend. The documents are loaded once per process.
//
// What the fake models beyond the documents, and where it is looser or
// stricter than HubSpot:
//   - Search: phone and mobilephone compare exactly, as stored; the
//     hs_searchable_calculated_* copies hold the stored digits and match a
//     number whatever up to three leading digits (country code, trunk
//     prefix) precede it, so "+49 79161234567" is a near-miss for
//     +79161234567 that clients must reject. CONTAINS_TOKEN takes *
//     wildcards over tokens; query is connectortest's full-text search.
//     associations.contact EQ finds deals and leads linked to a contact.
//     At most five filter groups, as HubSpot documents.
//   - Batch results come back in reverse order: HubSpot promises no order,
//     so clients must match them by objectWriteTraceId or id.
//   - Call writes are checked as HubSpot checks properties: unknown
//     properties, a bad direction, status or outcome, a non-numeric
//     duration, a non-HTTPS recording, an unknown owner, or an association
//     whose type does not fit its target are 400s.
package hubspottest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/routers"

	"github.com/crmsync/crmsync/connectors/connectortest"
)

// Defaults NewHandler sets.
const (
	DefaultClientID     = "hubspottest-client-id"
	DefaultClientSecret = "hubspottest-client-secret"
	DefaultAccessToken  = "hubspottest-access-token"
	// HubID is the portal id the token endpoint reports.
	HubID = 4242
)

// AccessTokenTTL is how long an access token the fake issues lives.
const AccessTokenTTL = 30 * time.Minute

// Handler is the fake HubSpot API. Set its fields before serving.
type Handler struct {
	// Backend is the CRM account served.
	Backend *connectortest.Backend
	// ClientID and ClientSecret are the OAuth app credentials the token
	// endpoint accepts.
	ClientID, ClientSecret string
	// AccessToken is accepted with every scope and never expires, for
	// tests that skip the OAuth flow. Empty disables it.
	AccessToken string
	// OnViolation, when set, is called with every spec violation.
	OnViolation func(error)
	// NoValidation skips spec validation (to measure the client alone).
	NoValidation bool
	// Now is the clock tokens expire by; nil means time.Now.
	Now func() time.Time

	specs    *connectortest.Spec
	mux      *http.ServeMux
	muxOnce  sync.Once
	mu       sync.Mutex
	tokens   map[string]grant // access token → grant
	refresh  map[string]grant // refresh token → grant
	revoked  int
	codes    map[string]authCode
	failures []error
}

// NewHandler returns a Handler serving b with the default credentials. It
// fails when HubSpot's OpenAPI documents cannot be found or loaded.
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
		tokens:       map[string]grant{},
		refresh:      map[string]grant{},
		codes:        map[string]authCode{},
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
	h.muxOnce.Do(func() {
		m := http.NewServeMux()
		m.HandleFunc("GET /oauth/authorize", h.handleAuthorize)
		m.HandleFunc("POST /oauth/v3/token", h.handleToken)
		m.HandleFunc("POST /oauth/2026-03/token", h.handleToken)
		m.HandleFunc("POST /oauth/v3/token/revoke", h.handleRevoke)
		m.HandleFunc("GET /crm/v3/owners", h.handleOwners)
		m.HandleFunc("POST /crm/v3/objects/{object}/search", h.handleSearch)
		m.HandleFunc("POST /crm/v3/objects/calls", h.handleCreateCall)
		m.HandleFunc("GET /crm/v3/objects/calls/{id}", h.handleGetCall)
		m.HandleFunc("PATCH /crm/v3/objects/calls/{id}", h.handleUpdateCall)
		m.HandleFunc("POST /crm/v3/objects/calls/batch/create", h.handleBatchCreateCalls)
		m.HandleFunc("POST /crm/v3/objects/calls/batch/update", h.handleBatchUpdateCalls)
		m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "no such endpoint in the fake: "+r.Method+" "+r.URL.Path)
		})
		h.mux = m
	})
	return h.mux
}

// ServeHTTP validates r against the documents, serves it, and validates the
// answer before sending it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mux := h.routes()
	// The authorize endpoint is HubSpot's web page (app.hubspot.com), not
	// part of the API documents.
	if h.NoValidation || h.specs == nil || r.URL.Path == "/oauth/authorize" {
		mux.ServeHTTP(w, r)
		return
	}
	h.specs.Serve(w, r, mux, connectortest.Checks{
		Violation: h.violation,
		Refuse: func(w http.ResponseWriter, status int, msg string) {
			category := "VALIDATION_ERROR"
			if status == http.StatusNotFound {
				category = "OBJECT_NOT_FOUND"
			}
			writeError(w, status, category, msg)
		},
	})
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

// errorBody renders HubSpot's error JSON for an injected status.
func errorBody(status int) []byte {
	category, msg := "VALIDATION_ERROR", "Invalid input"
	extra := map[string]any{}
	switch {
	case status == http.StatusUnauthorized:
		category, msg = "INVALID_AUTHENTICATION", "Authentication credentials not found."
	case status == http.StatusForbidden:
		category, msg = "MISSING_SCOPES", "This app hasn't been granted all required scopes."
	case status == http.StatusNotFound:
		category, msg = "OBJECT_NOT_FOUND", "Object not found."
	case status == http.StatusTooManyRequests:
		category, msg = "RATE_LIMITS", "You have reached your ten_secondly_rolling limit."
		extra["errorType"], extra["policyName"] = "RATE_LIMIT", "TEN_SECONDLY_ROLLING"
	case status >= 500:
		category, msg = "INTERNAL_ERROR", "Internal error."
	}
	return errorJSON(category, msg, extra)
}

func errorJSON(category, msg string, extra map[string]any) []byte {
	e := map[string]any{
		"status":        "error",
		"category":      category,
		"message":       msg,
		"correlationId": newUUID(),
	}
	for k, v := range extra {
		e[k] = v
	}
	b, _ := json.Marshal(e)
	return b
}

func writeError(w http.ResponseWriter, status int, category, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(errorJSON(category, msg, nil))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decode reads r's JSON body into v, answering 400 on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON: "+err.Error())
		return false
	}
	return true
}

// newUUID returns a random (version 4) UUID, as correlation ids are.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// route returns the operation the validator matched, or nil.
func route(r *http.Request) *routers.Route { return connectortest.Route(r) }
