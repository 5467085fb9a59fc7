package amocrmtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors/connectortest"
)

// handleToken is amo's token endpoint: both grants want client_id,
// client_secret and redirect_uri; refresh tokens are single-use.
func (h *Handler) handleToken(w http.ResponseWriter, r *http.Request) {
	if f, ok := h.nextTokenFault(); ok && connectortest.ServeFault(w, r, f, problemBody) {
		return
	}
	p := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			oauthError(w, http.StatusBadRequest, "Invalid JSON", "")
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			oauthError(w, http.StatusBadRequest, "Invalid form", "")
			return
		}
		for k := range r.PostForm {
			p[k] = r.PostForm.Get(k)
		}
	}
	if p["client_id"] != ClientID || p["client_secret"] != ClientSecret {
		oauthError(w, http.StatusUnauthorized, "Client authentication failed", "Check the client_id and client_secret")
		return
	}
	if p["redirect_uri"] != RedirectURI {
		oauthError(w, http.StatusBadRequest, "В запросе отсутствует ряд параметров или параметры невалидны", "Check the `redirect_uri` parameter")
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch p["grant_type"] {
	case "refresh_token":
		if !h.refresh[p["refresh_token"]] {
			h.rejected++
			oauthError(w, http.StatusBadRequest, "Refresh token has been revoked", "Token has been revoked")
			return
		}
		h.refresh[p["refresh_token"]] = false
		h.refreshes++
	case "authorization_code":
		if !h.codes[p["code"]] {
			oauthError(w, http.StatusBadRequest, "Authorization code has expired", "Authorization code has been revoked")
			return
		}
		delete(h.codes, p["code"])
	default:
		oauthError(w, http.StatusBadRequest, "Unsupported grant type", "Check the `grant_type` parameter")
		return
	}
	tok := h.mint(time.Now().Add(h.AccessTTL))
	writeJSON(w, map[string]any{
		"token_type":    "Bearer",
		"expires_in":    int64(h.AccessTTL.Seconds()),
		"access_token":  tok.AccessToken,
		"refresh_token": tok.RefreshToken,
		"server_time":   time.Now().Unix(),
	})
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

// oauthError is amo's token endpoint error: problem+json with a hint and
// no RFC 6749 error field.
func oauthError(w http.ResponseWriter, status int, detail, hint string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"title":  "Некорректный запрос",
		"type":   "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
		"status": status,
		"detail": detail,
		"hint":   hint,
	})
}
