package bitrix24test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors/bitrix24"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// handleToken is Bitrix24's token endpoint: a GET with the app's id and
// secret in the query; authorisation codes live CodeTTL, refresh tokens
// rotate.
func (h *Handler) handleToken(w http.ResponseWriter, r *http.Request) {
	if f, ok := h.nextTokenFault(); ok && connectortest.ServeFault(w, r, f, errorBody) {
		return
	}
	q := r.URL.Query()
	if q.Get("client_id") != ClientID || q.Get("client_secret") != ClientSecret {
		writeError(w, errorf(http.StatusUnauthorized, "invalid_client", "Invalid client credentials"))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	switch q.Get("grant_type") {
	case "authorization_code":
		exp, ok := h.codes[q.Get("code")]
		delete(h.codes, q.Get("code"))
		if !ok || !now.Before(exp) {
			writeError(w, errorf(http.StatusBadRequest, "invalid_grant", "Invalid authorization code"))
			return
		}
	case "refresh_token":
		if !h.refresh[q.Get("refresh_token")] {
			h.rejected++
			writeError(w, errorf(http.StatusBadRequest, "invalid_grant", "Invalid refresh token"))
			return
		}
		h.refresh[q.Get("refresh_token")] = false // spent: the answer carries the next one
		h.refreshes++
	default:
		writeError(w, errorf(http.StatusBadRequest, "invalid_request", "Unsupported grant_type"))
		return
	}
	tok := h.mint(now.Add(h.AccessTTL))
	user, _ := strconv.Atoi(h.CurrentUserID)
	writeJSON(w, map[string]any{
		"access_token":    tok.AccessToken,
		"refresh_token":   tok.RefreshToken,
		"expires_in":      int64(h.AccessTTL.Seconds()),
		"expires":         tok.Expiry.Unix(),
		"scope":           strings.Join(h.Scopes, ","),
		"domain":          "oauth.bitrix.info", // the auth server, not the portal
		"server_endpoint": "https://oauth.bitrix.info/rest/",
		"client_endpoint": "http://" + r.Host + "/rest/",
		"member_id":       MemberID,
		"status":          "L",
		"user_id":         user,
	})
}

// handleAuthorize stands in for the portal's consent page: it approves at
// once and returns to the app's redirect URI with a code and the portal.
func (h *Handler) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri") // Bitrix24 takes it from the app's card
	if redirect == "" {
		redirect = RedirectURI
	}
	u, err := url.Parse(redirect)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := u.Query()
	v.Set("code", h.IssueCode())
	v.Set("state", q.Get("state"))
	v.Set("domain", r.Host)
	v.Set("member_id", MemberID)
	v.Set("scope", strings.Join(h.Scopes, ","))
	v.Set("server_domain", "oauth.bitrix.info")
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// mint issues a token pair; callers hold h.mu.
func (h *Handler) mint(expiry time.Time) *oauth2.Token {
	tok := &oauth2.Token{AccessToken: randomHex(16), RefreshToken: randomHex(16), TokenType: "Bearer", Expiry: expiry}
	h.access[tok.AccessToken] = expiry
	h.refresh[tok.RefreshToken] = true
	return tok
}

// IssueToken mints a token pair as a completed authorisation would, with
// the given access-token expiry (in the past for an expired token).
func (h *Handler) IssueToken(expiry time.Time) *oauth2.Token {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mint(expiry)
}

// IssueCode returns an authorisation code the token endpoint accepts once
// within CodeTTL.
func (h *Handler) IssueCode() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	code := randomHex(16)
	h.codes[code] = h.now().Add(CodeTTL)
	return code
}

// RevokeAccess makes an access token fail with 401 invalid_token.
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

func (h *Handler) nextTokenFault() (connectortest.Fault, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.tokenFaults) == 0 {
		return connectortest.Fault{}, false
	}
	f := h.tokenFaults[0]
	h.tokenFaults = h.tokenFaults[1:]
	return f, true
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

// Event returns the form body Bitrix24 posts to an event handler for event
// (e.g. "ONCRMDEALUPDATE") on the record id, signed with the
// installation's application token.
func (h *Handler) Event(event, id string) url.Values {
	return url.Values{
		"event":                   {event},
		"event_handler_id":        {"7"},
		"data[FIELDS][ID]":        {id},
		"ts":                      {strconv.FormatInt(h.now().Unix(), 10)},
		"auth[domain]":            {"bitrix24test.example"},
		"auth[client_endpoint]":   {"https://bitrix24test.example/rest/"},
		"auth[server_endpoint]":   {"https://oauth.bitrix.info/rest/"},
		"auth[member_id]":         {MemberID},
		"auth[application_token]": {h.ApplicationToken},
		"auth[status]":            {"L"},
		"auth[scope]":             {strings.Join(h.Scopes, ",")},
	}
}

// InstallEvent returns the ONAPPINSTALL form Bitrix24 posts when the app
// is installed: the installation's application token, and a fresh token
// pair (the access token works on this portal).
func (h *Handler) InstallEvent() url.Values {
	h.mu.Lock()
	tok := h.mint(h.now().Add(h.AccessTTL))
	h.mu.Unlock()
	v := h.Event(bitrix24.InstallEvent, "")
	v.Del("data[FIELDS][ID]")
	v.Del("event_handler_id")
	v.Set("data[VERSION]", "1")
	v.Set("data[LANGUAGE_ID]", "en")
	v.Set("auth[access_token]", tok.AccessToken)
	v.Set("auth[refresh_token]", tok.RefreshToken)
	v.Set("auth[expires]", strconv.FormatInt(tok.Expiry.Unix(), 10))
	v.Set("auth[expires_in]", strconv.Itoa(int(h.AccessTTL/time.Second)))
	return v
}
