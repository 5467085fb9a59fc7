package bitrix24

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// TokenURL is Bitrix24's central token endpoint, for every portal.
const TokenURL = "https://oauth.bitrix.info/oauth/token/"

// Endpoint returns the OAuth endpoints of the portal whose REST API is at
// baseURL: the authorisation page on the portal
// (https://{portal}/oauth/authorize/) and the central TokenURL. A base URL
// that cannot be a real portal (a loopback address, localhost, a
// single-label host or a reserved .test/.example/.invalid/.localhost name:
// a fake in tests or the demo sandbox) gets the token endpoint on its own
// host, /oauth/token/.
func Endpoint(baseURL string) oauth2.Endpoint {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return oauth2.Endpoint{TokenURL: TokenURL, AuthStyle: oauth2.AuthStyleInParams}
	}
	origin := u.Scheme + "://" + u.Host
	e := oauth2.Endpoint{AuthURL: origin + "/oauth/authorize/", TokenURL: TokenURL, AuthStyle: oauth2.AuthStyleInParams}
	if !realHost(u.Hostname()) {
		e.TokenURL = origin + "/oauth/token/"
	}
	return e
}

// realHost reports whether host can be a real portal.
func realHost(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return !ip.IsLoopback()
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || !strings.Contains(host, ".") {
		return false
	}
	for _, tld := range []string{".localhost", ".test", ".example", ".invalid"} {
		if strings.HasSuffix(host, tld) {
			return false
		}
	}
	return true
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken    string `json:"access_token"`
	RefreshToken   string `json:"refresh_token"`
	ExpiresIn      int64  `json:"expires_in"`
	ClientEndpoint string `json:"client_endpoint"`
	MemberID       string `json:"member_id"`
	apiError
}

// Refresh exchanges a refresh token at Bitrix24's token endpoint: a GET
// with grant_type=refresh_token and the app's id and secret in the query,
// as Bitrix24 documents it. The answer carries the next refresh token (the
// old one is spent). A refused grant comes back as an
// *oauth2.RetrieveError with ErrorCode "invalid_grant". The HTTP client
// is taken from ctx (oauth2.HTTPClient), as x/oauth2 does; it must not be
// the authenticating client.
func Refresh(ctx context.Context, cfg *oauth2.Config, refreshToken string) (*oauth2.Token, error) {
	tok, err := grant(ctx, cfg, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
	if err != nil {
		return nil, fmt.Errorf("bitrix24: refresh: %w", err)
	}
	return tok, nil
}

// Exchange trades the authorisation code from the OAuth callback for the
// account's first token pair (a GET, like Refresh). The code lives 30
// seconds: call Exchange in the callback itself, never from a queue. Set
// cfg.Endpoint to Endpoint(PortalURL(domain)), domain being the callback's
// domain parameter. The token's extras name the account: BaseURL (the
// client_endpoint, https://{portal}/rest/) and MemberID (the portal's
// stable id, which survives a domain change: use it as the account's
// external id).
func Exchange(ctx context.Context, cfg *oauth2.Config, code string) (*oauth2.Token, error) {
	tok, err := grant(ctx, cfg, url.Values{"grant_type": {"authorization_code"}, "code": {code}})
	if err != nil {
		return nil, fmt.Errorf("bitrix24: exchange code: %w", err)
	}
	return tok, nil
}

// BaseURL returns the REST endpoint (client_endpoint) a token answer names,
// or "".
func BaseURL(tok *oauth2.Token) string {
	s, _ := tok.Extra("client_endpoint").(string)
	return s
}

// MemberID returns the portal id (member_id) a token answer names, or "".
func MemberID(tok *oauth2.Token) string {
	s, _ := tok.Extra("member_id").(string)
	return s
}

func grant(ctx context.Context, cfg *oauth2.Config, q url.Values) (*oauth2.Token, error) {
	q.Set("client_id", cfg.ClientID)
	q.Set("client_secret", cfg.ClientSecret)
	tokenURL := cfg.Endpoint.TokenURL
	if tokenURL == "" {
		tokenURL = TokenURL
	}
	sep := "?"
	if strings.Contains(tokenURL, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tokenURL+sep+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The URL holds the secret: report the failure without it.
		if ue, ok := err.(*url.Error); ok {
			return nil, fmt.Errorf("token endpoint: %w", ue.Err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read token answer: %w", err)
	}
	var tr tokenResponse
	jerr := json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK || tr.Code != "" {
		return nil, &oauth2.RetrieveError{Response: resp, ErrorCode: tr.Code, ErrorDescription: tr.Description}
	}
	if jerr != nil {
		return nil, fmt.Errorf("decode token answer: %w", jerr)
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" {
		return nil, fmt.Errorf("token answer lacks a token")
	}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	tok := &oauth2.Token{
		AccessToken:  tr.AccessToken,
		TokenType:    "Bearer", // for the Transport; Bitrix24 takes it as auth=
		RefreshToken: tr.RefreshToken,
		ExpiresIn:    tr.ExpiresIn,
	}
	if tr.ExpiresIn > 0 {
		tok.Expiry = time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return tok.WithExtra(raw), nil
}
