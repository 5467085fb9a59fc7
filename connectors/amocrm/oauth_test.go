package amocrm_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors/amocrm"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

func TestEndpoint(t *testing.T) {
	tests := []struct{ base, auth, token string }{
		{"https://acme.amocrm.ru", "https://www.amocrm.ru/oauth", "https://acme.amocrm.ru/oauth2/access_token"},
		{"https://acme.kommo.com/", "https://www.kommo.com/oauth", "https://acme.kommo.com/oauth2/access_token"},
	}
	for _, tt := range tests {
		e := amocrm.Endpoint(tt.base)
		if e.AuthURL != tt.auth || e.TokenURL != tt.token || e.AuthStyle != oauth2.AuthStyleInParams {
			t.Errorf("Endpoint(%q) = %+v", tt.base, e)
		}
	}
}

func TestRefresh(t *testing.T) {
	srv := amocrmtest.NewServer(connectortest.NewBackend())
	t.Cleanup(srv.Close)
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	t.Run("OK", func(t *testing.T) {
		old := srv.IssueToken(time.Now())
		tok, err := amocrm.Refresh(ctx, amocrmtest.Config(srv.URL), old.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == old.RefreshToken || tok.AccessToken == "" || time.Until(tok.Expiry) < time.Hour {
			t.Fatalf("token = %+v, want a new pair valid for a day", tok)
		}
	})
	t.Run("ErrInvalidGrant", func(t *testing.T) { // amo's problem+json hint, no RFC error field
		old := srv.IssueToken(time.Now())
		if _, err := amocrm.Refresh(ctx, amocrmtest.Config(srv.URL), old.RefreshToken); err != nil {
			t.Fatal(err)
		}
		_, err := amocrm.Refresh(ctx, amocrmtest.Config(srv.URL), old.RefreshToken)
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode != "invalid_grant" {
			t.Fatalf("err = %v, want RetrieveError invalid_grant", err)
		}
	})
	t.Run("NeedsRedirectURI", func(t *testing.T) { // amo refuses a refresh without redirect_uri
		cfg := amocrmtest.Config(srv.URL)
		cfg.RedirectURL = ""
		_, err := amocrm.Refresh(ctx, cfg, srv.IssueToken(time.Now()).RefreshToken)
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode == "invalid_grant" {
			t.Fatalf("err = %v, want a RetrieveError that is not invalid_grant", err)
		}
	})
	t.Run("Transient", func(t *testing.T) {
		srv.InjectTokenFault(connectortest.Fault{Status: http.StatusBadGateway})
		_, err := amocrm.Refresh(ctx, amocrmtest.Config(srv.URL), srv.IssueToken(time.Now()).RefreshToken)
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode != "" {
			t.Fatalf("err = %v, want a RetrieveError without a code", err)
		}
	})
	t.Run("RFC6749Error", func(t *testing.T) {
		rfc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"The refresh token is invalid."}`))
		}))
		t.Cleanup(rfc.Close)
		_, err := amocrm.Refresh(ctx, amocrmtest.Config(rfc.URL), "rt")
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode != "invalid_grant" {
			t.Fatalf("err = %v, want RetrieveError invalid_grant", err)
		}
	})
}
