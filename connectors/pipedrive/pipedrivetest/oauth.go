package pipedrivetest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

func randomToken(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Config returns the OAuth app the fake knows, with its endpoints on
// baseURL (the fake's URL) and Basic client authentication, as
// pipedrive.Endpoint gives them for a test server.
func (h *Handler) Config(baseURL string) *oauth2.Config {
	base := strings.TrimRight(baseURL, "/")
	return &oauth2.Config{
		ClientID:     h.ClientID,
		ClientSecret: h.ClientSecret,
		RedirectURL:  DefaultRedirectURI,
		Endpoint: oauth2.Endpoint{
			AuthURL:   base + "/oauth/authorize",
			TokenURL:  base + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
}

// IssueToken registers and returns a token pair whose access token expires
// at expiry, as if the OAuth flow had run (for tests that start linked).
func (h *Handler) IssueToken(expiry time.Time) *oauth2.Token {
	access, refresh := randomToken("v1u:access-"), randomToken("1:1:refresh-")
	h.mu.Lock()
	h.tokens[access] = expiry
	h.refresh[refresh] = h.now()
	h.mu.Unlock()
	return &oauth2.Token{AccessToken: access, TokenType: "Bearer", RefreshToken: refresh, Expiry: expiry}
}

// RevokeAccess makes an access token unknown (a 401 from then on).
func (h *Handler) RevokeAccess(access string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.tokens, access)
}

// Refreshes returns how many refresh grants succeeded.
func (h *Handler) Refreshes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refreshes
}

// Rejected returns how many refresh grants were refused (unknown, retired
// or idle refresh tokens).
func (h *Handler) Rejected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rejected
}

// handleAuthorize stands in for Pipedrive's consent page: it approves at
// once and redirects to redirect_uri with a code (and the state).
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
	}
	code := randomToken("code-")
	h.mu.Lock()
	h.codes[code] = redirect.String()
	h.mu.Unlock()
	v := redirect.Query()
	v.Set("code", code)
	if s := q.Get("state"); s != "" {
		v.Set("state", s)
	}
	redirect.RawQuery = v.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// oauthError answers as an RFC 6749 token endpoint (x/oauth2 reads error).
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"success": false, "error": code, "message": desc})
}

// clientAuth checks the Basic client credentials. x/oauth2 form-escapes
// both before encoding them (RFC 6749 §2.3.1).
func (h *Handler) clientAuth(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return false
	}
	id, err1 := url.QueryUnescape(id)
	secret, err2 := url.QueryUnescape(secret)
	return err1 == nil && err2 == nil && id == h.ClientID && secret == h.ClientSecret
}

// handleToken is POST /oauth/token (and /oauth/token/): the
// authorization_code and refresh_token grants, form-encoded, with the
// client credentials in an HTTP Basic header only.
func (h *Handler) handleToken(w http.ResponseWriter, r *http.Request) {
	if !h.clientAuth(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Invalid client credentials (HTTP Basic)")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	f := r.PostForm
	if f.Get("client_secret") != "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client credentials belong in the Authorization header")
		return
	}
	now := h.now()
	h.mu.Lock()
	refresh := ""
	switch f.Get("grant_type") {
	case "authorization_code":
		redirect, ok := h.codes[f.Get("code")]
		delete(h.codes, f.Get("code")) // single use
		if !ok || redirect != f.Get("redirect_uri") {
			h.mu.Unlock()
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown or used code, or another redirect_uri")
			return
		}
		refresh = randomToken("1:1:refresh-")
	case "refresh_token":
		refresh = f.Get("refresh_token")
		used, ok := h.refresh[refresh]
		if !ok || now.Sub(used) > RefreshTokenIdleTTL {
			delete(h.refresh, refresh)
			h.rejected++
			h.mu.Unlock()
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid grant: refresh token is invalid or expired")
			return
		}
		h.refreshes++
		if h.RotateRefreshTokens {
			delete(h.refresh, refresh)
			refresh = randomToken("1:1:refresh-")
		}
	default:
		h.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	h.refresh[refresh] = now // every use restarts the 60 days
	access := randomToken("v1u:access-")
	h.tokens[access] = now.Add(AccessTokenTTL)
	h.mu.Unlock()
	domain := h.APIDomain
	if domain == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		domain = scheme + "://" + r.Host
	}
	scope := "base"
	if h.Scopes != nil {
		scope = strings.Join(h.Scopes, ",")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token":  access,
		"token_type":    "Bearer",
		"refresh_token": refresh,
		"scope":         scope,
		"expires_in":    int64(AccessTokenTTL/time.Second) - 1,
		"api_domain":    domain,
	})
}

// authorized checks the bearer token and, for tokens the OAuth flow
// issued, that the app's scopes include one a security requirement of the
// operation lists (Pipedrive lists alternatives, e.g. deals:read or
// deals:full), answering 401 or 403 when not.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized access")
		return false
	}
	if h.AccessToken != "" && tok == h.AccessToken {
		return true
	}
	h.mu.Lock()
	exp, ok := h.tokens[tok]
	h.mu.Unlock()
	if !ok || !h.now().Before(exp) {
		writeError(w, http.StatusUnauthorized, "unauthorized access")
		return false
	}
	rt := route(r)
	if h.Scopes == nil || rt == nil || rt.Operation.Security == nil {
		return true
	}
	for _, req := range *rt.Operation.Security {
		if scopes, oauth := req["oauth2"]; oauth && slices.ContainsFunc(scopes, func(s string) bool {
			return slices.Contains(h.Scopes, s)
		}) {
			return true
		}
	}
	writeError(w, http.StatusForbidden, "You don't have permission to access the resource.")
	return false
}

// BearerClient returns a client like base that sends "Authorization:
// Bearer token" with every request: a linked account's HTTP client without
// the retrying transport (so 401 and 429 reach the connector as they are).
func BearerClient(base *http.Client, token string) *http.Client {
	c := *base
	next := base.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = bearer{next: next, token: token}
	return &c
}

type bearer struct {
	next  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// handleRevoke is POST /oauth/revoke (RFC 7009, HTTP Basic client
// authentication): the refresh token named by token is forgotten, so it
// can never be exchanged again. Unknown tokens are a success, as RFC 7009
// §2.2 says.
func (h *Handler) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !h.clientAuth(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Invalid client credentials (HTTP Basic)")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	h.mu.Lock()
	if _, ok := h.refresh[r.PostForm.Get("token")]; ok {
		delete(h.refresh, r.PostForm.Get("token"))
		h.revoked++
	}
	delete(h.tokens, r.PostForm.Get("token"))
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// Revoked returns how many refresh tokens were revoked.
func (h *Handler) Revoked() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.revoked
}
