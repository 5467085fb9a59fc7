package bitrix24_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/bitrix24"
	"github.com/crmsync/crmsync/connectors/bitrix24/bitrix24test"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

func TestEndpoint(t *testing.T) {
	tests := []struct{ base, auth, token string }{
		{"https://acme.bitrix24.ru/rest/", "https://acme.bitrix24.ru/oauth/authorize/", bitrix24.TokenURL},
		{"https://crm.acme-corp.com/rest/", "https://crm.acme-corp.com/oauth/authorize/", bitrix24.TokenURL}, // on-premise
		{"https://10.0.0.7/rest/", "https://10.0.0.7/oauth/authorize/", bitrix24.TokenURL},
		{"http://127.0.0.1:41234/rest/", "http://127.0.0.1:41234/oauth/authorize/", "http://127.0.0.1:41234/oauth/token/"},
		{"http://bitrix24-fake:8080/rest/", "http://bitrix24-fake:8080/oauth/authorize/", "http://bitrix24-fake:8080/oauth/token/"},
		{"https://portal.test/rest/#member_id=x", "https://portal.test/oauth/authorize/", "https://portal.test/oauth/token/"},
	}
	for _, tt := range tests {
		e := bitrix24.Endpoint(tt.base)
		if e.AuthURL != tt.auth || e.TokenURL != tt.token {
			t.Errorf("Endpoint(%q) = %+v, want %s and %s", tt.base, e, tt.auth, tt.token)
		}
	}
}

func TestRefresh(t *testing.T) {
	srv := bitrix24test.NewServer(connectortest.NewBackend())
	t.Cleanup(srv.Close)
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	cfg := bitrix24test.Config(srv.BaseURL())
	t.Run("Rotation", func(t *testing.T) {
		old := srv.IssueToken(time.Now())
		tok, err := bitrix24.Refresh(ctx, cfg, old.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == old.RefreshToken || tok.AccessToken == "" || time.Until(tok.Expiry) < 59*time.Minute {
			t.Fatalf("token = %+v, want a new pair valid for an hour", tok)
		}
		if bitrix24.BaseURL(tok) != srv.BaseURL() || bitrix24.MemberID(tok) != bitrix24test.MemberID {
			t.Errorf("extras: client_endpoint %q, member_id %q", bitrix24.BaseURL(tok), bitrix24.MemberID(tok))
		}
		// The old refresh token is spent.
		_, err = bitrix24.Refresh(ctx, cfg, old.RefreshToken)
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode != "invalid_grant" {
			t.Fatalf("spent refresh token: err = %v, want RetrieveError invalid_grant", err)
		}
		// The new one works once.
		if _, err := bitrix24.Refresh(ctx, cfg, tok.RefreshToken); err != nil {
			t.Fatalf("rotated refresh token: %v", err)
		}
	})
	t.Run("InvalidClient", func(t *testing.T) { // not invalid_grant: a config error must not unlink accounts
		bad := *cfg
		bad.ClientSecret = "wrong"
		_, err := bitrix24.Refresh(ctx, &bad, srv.IssueToken(time.Now()).RefreshToken)
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode != "invalid_client" {
			t.Fatalf("err = %v, want RetrieveError invalid_client", err)
		}
	})
	t.Run("Transient", func(t *testing.T) {
		srv.InjectTokenFault(connectortest.Fault{Status: http.StatusBadGateway})
		_, err := bitrix24.Refresh(ctx, cfg, srv.IssueToken(time.Now()).RefreshToken)
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.Response.StatusCode != http.StatusBadGateway {
			t.Fatalf("err = %v, want a RetrieveError for the 502", err)
		}
	})
	t.Run("NoSecretInErrors", func(t *testing.T) { // the secret travels in the URL
		closed := bitrix24test.NewServer(connectortest.NewBackend())
		closed.Close()
		_, err := bitrix24.Refresh(ctx, bitrix24test.Config(closed.BaseURL()), "rt")
		if err == nil || strings.Contains(err.Error(), bitrix24test.ClientSecret) {
			t.Fatalf("err = %v, want an error that does not quote the secret", err)
		}
	})
}

func TestExchange(t *testing.T) {
	srv := bitrix24test.NewServer(connectortest.NewBackend())
	t.Cleanup(srv.Close)
	now := time.Now()
	srv.Now = func() time.Time { return now }
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	cfg := bitrix24test.Config(srv.BaseURL())
	t.Run("OK", func(t *testing.T) {
		code := srv.IssueCode()
		tok, err := bitrix24.Exchange(ctx, cfg, code)
		if err != nil {
			t.Fatal(err)
		}
		if bitrix24.BaseURL(tok) != srv.BaseURL() || tok.RefreshToken == "" {
			t.Fatalf("token = %+v, want the portal's endpoint and a refresh token", tok)
		}
		// The token works against the API.
		c := bitrix24.New(connectors.Credentials{BaseURL: bitrix24.BaseURL(tok), HTTPClient: &http.Client{
			Transport: &oauth2.Transport{Source: oauth2.StaticTokenSource(tok), Base: srv.Client().Transport}}})
		if _, err := c.ListUsers(t.Context()); err != nil {
			t.Fatalf("ListUsers with the exchanged token: %v", err)
		}
		if _, err := bitrix24.Exchange(ctx, cfg, code); !isInvalidGrant(err) {
			t.Fatalf("code used twice: err = %v, want invalid_grant", err)
		}
	})
	t.Run("CodeExpired", func(t *testing.T) { // codes live 30 seconds
		code := srv.IssueCode()
		now = now.Add(bitrix24test.CodeTTL + time.Second)
		if _, err := bitrix24.Exchange(ctx, cfg, code); !isInvalidGrant(err) {
			t.Fatalf("err = %v, want invalid_grant", err)
		}
	})
	t.Run("GETOnly", func(t *testing.T) { // the fake, like our client, knows only the GET
		resp, err := srv.Client().PostForm(cfg.Endpoint.TokenURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("POST to the token endpoint: %s", resp.Status)
		}
	})
}

func isInvalidGrant(err error) bool {
	re, ok := errors.AsType[*oauth2.RetrieveError](err)
	return ok && re.ErrorCode == "invalid_grant"
}
