package hubspottest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// grant is what a token allows.
type grant struct {
	scopes  []string // nil: every scope
	expires time.Time
}

// authCode is an authorization code waiting to be exchanged.
type authCode struct {
	redirectURI string
	challenge   string // PKCE S256 code_challenge; empty without PKCE
	scopes      []string
}

func randomToken(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// handleAuthorize stands in for HubSpot's consent page: it approves at once
// and redirects to redirect_uri with a code (and the state).
func (h *Handler) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != h.ClientID:
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	case err != nil || !redirect.IsAbs():
		http.Error(w, "redirect_uri must be an absolute URL", http.StatusBadRequest)
		return
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		http.Error(w, "code_challenge_method must be S256", http.StatusBadRequest)
		return
	}
	code := randomToken("code-")
	h.mu.Lock()
	h.codes[code] = authCode{
		redirectURI: redirect.String(),
		challenge:   q.Get("code_challenge"),
		scopes:      strings.Fields(q.Get("scope")),
	}
	h.mu.Unlock()
	v := redirect.Query()
	v.Set("code", code)
	if s := q.Get("state"); s != "" {
		v.Set("state", s)
	}
	redirect.RawQuery = v.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// tokenResponse is AccessTokenResponse.
type tokenResponse struct {
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token"`
	ExpiresIn    int64    `json:"expires_in"`
	TokenType    string   `json:"token_type"`
	TokenUse     string   `json:"token_use"`
	HubID        int      `json:"hub_id"`
	UserID       int      `json:"user_id"`
	Scopes       []string `json:"scopes"`
}

// oauthError answers as HubSpot's v3 token endpoint does: RFC 6749 fields
// (which x/oauth2 reads) beside HubSpot's legacy status and message.
func oauthError(w http.ResponseWriter, code, legacy, desc string) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(errorJSON(legacy, desc, map[string]any{
		"status": legacy, "error": code, "error_description": desc,
	}))
}

// handleToken is POST /oauth/v3/token (and its 2026-03 alias): the
// authorization_code and refresh_token grants, form-encoded, with the
// client credentials in the form (HubSpot's AuthStyleInParams).
func (h *Handler) handleToken(w http.ResponseWriter, r *http.Request) {
	if h.intercept(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", "BAD_REQUEST", err.Error())
		return
	}
	f := r.PostForm
	if f.Get("client_id") != h.ClientID || f.Get("client_secret") != h.ClientSecret {
		oauthError(w, "invalid_client", "BAD_CLIENT_ID", "missing or unknown client credentials")
		return
	}
	var g grant
	var refresh string
	h.mu.Lock()
	switch f.Get("grant_type") {
	case "authorization_code":
		code, ok := h.codes[f.Get("code")]
		delete(h.codes, f.Get("code")) // single use
		switch {
		case !ok:
			h.mu.Unlock()
			oauthError(w, "invalid_grant", "BAD_AUTH_CODE", "unknown or used authorization code")
			return
		case code.redirectURI != f.Get("redirect_uri"):
			h.mu.Unlock()
			oauthError(w, "invalid_grant", "BAD_REDIRECT_URI", "redirect_uri differs from the authorize request")
			return
		case code.challenge != "" && s256(f.Get("code_verifier")) != code.challenge:
			h.mu.Unlock()
			oauthError(w, "invalid_grant", "BAD_AUTH_CODE", "code_verifier does not match code_challenge")
			return
		}
		g.scopes = code.scopes
		refresh = randomToken("refresh-")
		h.refresh[refresh] = g
	case "refresh_token":
		refresh = f.Get("refresh_token")
		var ok bool
		if g, ok = h.refresh[refresh]; !ok {
			h.mu.Unlock()
			oauthError(w, "invalid_grant", "BAD_REFRESH_TOKEN", "missing or unknown refresh token")
			return
		}
	default:
		h.mu.Unlock()
		oauthError(w, "unsupported_grant_type", "BAD_GRANT_TYPE", "grant_type must be authorization_code or refresh_token")
		return
	}
	access := randomToken("access-")
	g.expires = h.now().Add(AccessTokenTTL)
	h.tokens[access] = g
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  access,
		RefreshToken: refresh, // HubSpot's refresh tokens do not rotate
		ExpiresIn:    int64(AccessTokenTTL / time.Second),
		TokenType:    "bearer",
		TokenUse:     "access_token",
		HubID:        HubID,
		UserID:       1,
		Scopes:       slices.Clone(g.scopes),
	})
}

// handleRevoke is POST /oauth/v3/token/revoke: it deletes the refresh
// token named by token (client credentials in the form), after which it
// can never be exchanged again. An unknown token is a success (RFC 7009).
func (h *Handler) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if h.intercept(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		oauthError(w, "invalid_request", "BAD_REQUEST", "token is required")
		return
	}
	f := r.PostForm
	if f.Get("client_id") != h.ClientID || f.Get("client_secret") != h.ClientSecret {
		oauthError(w, "invalid_client", "BAD_CLIENT_ID", "missing or unknown client credentials")
		return
	}
	h.mu.Lock()
	if _, ok := h.refresh[f.Get("token")]; ok {
		delete(h.refresh, f.Get("token"))
		h.revoked++
	}
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Revoked returns how many refresh tokens were revoked.
func (h *Handler) Revoked() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.revoked
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorized checks the bearer token and that it holds the scopes one of
// the operation's security requirements names, answering 401 or 403 when
// not.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		writeError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
		return false
	}
	var g grant
	if h.AccessToken == "" || tok != h.AccessToken {
		h.mu.Lock()
		g, ok = h.tokens[tok]
		h.mu.Unlock()
		if !ok || !h.now().Before(g.expires) {
			writeError(w, http.StatusUnauthorized, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired or is unknown.")
			return false
		}
	}
	rt := route(r)
	if g.scopes == nil || rt == nil || rt.Operation.Security == nil {
		return true
	}
	for _, req := range *rt.Operation.Security {
		held := true
		for _, s := range req["oauth2"] {
			held = held && slices.Contains(g.scopes, s)
		}
		if _, oauth := req["oauth2"]; oauth && held {
			return true
		}
	}
	writeError(w, http.StatusForbidden, "MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call.")
	return false
}
