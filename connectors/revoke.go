package connectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// ErrNoRevocation is Resolver.Revoke's answer for a CRM without a token
// revocation endpoint: its tokens can only be forgotten here.
var ErrNoRevocation = errors.New("the crm has no token revocation endpoint")

// Revoke asks the CRM to revoke account id's refresh token (RFC 7009: a
// form POST of token and token_type_hint to Info.RevokeURL, with the OAuth
// app's client credentials as the vendor's Endpoint.AuthStyle wants them),
// so a disconnected account's tokens are dead at the CRM too, not only
// deleted here. It sends the stored token as it is, without refreshing it
// first, and returns ErrNoRevocation when the connector names no endpoint.
func (r *Resolver) Revoke(ctx context.Context, id int64) error {
	c, err := r.resolve(ctx, id)
	if err != nil {
		return err
	}
	if c.revokeURL == "" {
		return ErrNoRevocation
	}
	tok, err := c.tokens.load(ctx)
	if err != nil {
		return err
	}
	return revoke(ctx, c.tokens.HTTPClient, c.revokeURL, c.tokens.Config, tok)
}

// revoke sends one RFC 7009 revocation request for tok's refresh token (its
// access token when it has none).
func revoke(ctx context.Context, hc *http.Client, endpoint string, cfg *oauth2.Config, tok *oauth2.Token) error {
	form := url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}
	if tok.RefreshToken == "" {
		form = url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}
	}
	basic := cfg.Endpoint.AuthStyle == oauth2.AuthStyleInHeader
	if !basic {
		form.Set("client_id", cfg.ClientID)
		form.Set("client_secret", cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("connectors: revoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		// RFC 6749 §2.3.1: the credentials are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("connectors: revoke: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("connectors: revoke: the crm answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
