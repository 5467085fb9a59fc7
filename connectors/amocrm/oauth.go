package amocrm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Endpoint returns the OAuth endpoints of the account at baseURL: the
// authorisation page is global (amoCRM or Kommo by domain), the token URL
// lives on the account's own domain.
func Endpoint(baseURL string) oauth2.Endpoint {
	auth := "https://www.amocrm.ru/oauth"
	if u, err := url.Parse(baseURL); err == nil && strings.HasSuffix(u.Hostname(), "kommo.com") {
		auth = "https://www.kommo.com/oauth"
	}
	return oauth2.Endpoint{
		AuthURL:   auth,
		TokenURL:  strings.TrimRight(baseURL, "/") + "/oauth2/access_token",
		AuthStyle: oauth2.AuthStyleInParams,
	}
}

// tokenResponse is amo's token endpoint answer.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// Refresh exchanges a refresh token at amo's token endpoint. Unlike
// x/oauth2's refresh it sends redirect_uri, which amo wants on every grant.
// amo refresh tokens are single-use: the answer carries the next one. An
// answer saying the token is revoked or expired comes back as an
// *oauth2.RetrieveError with ErrorCode "invalid_grant", whether amo used
// RFC 6749's error field or only its problem+json hint. The HTTP client is
// taken from ctx (oauth2.HTTPClient), as x/oauth2 does.
func Refresh(ctx context.Context, cfg *oauth2.Config, refreshToken string) (*oauth2.Token, error) {
	form := url.Values{
		"client_id":     {cfg.ClientID},
		"client_secret": {cfg.ClientSecret},
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"redirect_uri":  {cfg.RedirectURL},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("amocrm: refresh: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("amocrm: refresh: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("amocrm: refresh: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, retrieveError(resp, body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("amocrm: refresh: decode answer: %w", err)
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" {
		return nil, fmt.Errorf("amocrm: refresh: answer lacks a token")
	}
	tok := &oauth2.Token{
		AccessToken:  tr.AccessToken,
		TokenType:    tr.TokenType,
		RefreshToken: tr.RefreshToken,
		ExpiresIn:    tr.ExpiresIn,
	}
	if tr.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return tok, nil
}

// retrieveError turns an error answer into an *oauth2.RetrieveError,
// recognising amo's ways of saying the grant is dead.
func retrieveError(resp *http.Response, body []byte) error {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Hint        string `json:"hint"`
		Detail      string `json:"detail"`
	}
	_ = json.Unmarshal(body, &e)
	code := e.Error
	text := strings.ToLower(e.Hint + " " + e.Detail + " " + e.Description)
	dead := strings.Contains(text, "revoked") || strings.Contains(text, "expired") || strings.Contains(text, "invalid")
	if code == "" && (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized) &&
		strings.Contains(text, "token") && dead {
		code = "invalid_grant"
	}
	return &oauth2.RetrieveError{
		Response:         resp,
		ErrorCode:        code,
		ErrorDescription: strings.TrimSpace(e.Hint + " " + e.Description),
	}
}
