package connectors_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/hubspot/hubspottest"
	"github.com/crmsync/crmsync/connectors/pipedrive/pipedrivetest"
	"github.com/crmsync/crmsync/store/storetest"

	_ "github.com/crmsync/crmsync/connectors/amocrm"
	_ "github.com/crmsync/crmsync/connectors/hubspot"
	_ "github.com/crmsync/crmsync/connectors/pipedrive"
)

// revokingFake is a CRM fake with a revocation endpoint: its handler, OAuth
// app and how many refresh tokens it revoked.
type revokingFake struct {
	handler      http.Handler
	clientID     string
	clientSecret string
	revoked      func() int
	violations   func() []error
}

// TestResolver_Revoke links an account through each fake's real OAuth code
// flow, revokes it through the Resolver (RFC 7009 with the vendor's client
// authentication), and checks that the CRM forgot the refresh token: a
// refresh with it is refused from then on.
func TestResolver_Revoke(t *testing.T) {
	fakes := map[string]func(t *testing.T) revokingFake{
		"hubspot": func(t *testing.T) revokingFake {
			h, err := hubspottest.NewHandler(connectortest.NewBackend())
			if err != nil {
				t.Fatal(err)
			}
			return revokingFake{h, h.ClientID, h.ClientSecret, h.Revoked, h.Violations}
		},
		"pipedrive": func(t *testing.T) revokingFake {
			h, err := pipedrivetest.NewHandler(connectortest.NewBackend())
			if err != nil {
				t.Fatal(err)
			}
			return revokingFake{h, h.ClientID, h.ClientSecret, h.Revoked, h.Violations}
		},
	}
	for name, newFake := range fakes {
		t.Run(name, func(t *testing.T) {
			fake := newFake(t)
			srv := httptest.NewServer(fake.handler)
			t.Cleanup(srv.Close)
			info, err := connectors.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			app := &oauth2.Config{ClientID: fake.clientID, ClientSecret: fake.clientSecret,
				RedirectURL: "http://127.0.0.1:1/connect/" + name + "/callback"}
			cfg := *app
			cfg.Endpoint = info.Endpoint(srv.URL)
			tok := authorize(t, &cfg)

			db := storetest.MustOpen(t)
			acct := storetest.MustAccount(t, db, name, srv.URL, tok)
			r := &connectors.Resolver{Accounts: db, OAuth: map[string]*oauth2.Config{name: app}, NoRateLimit: true}
			if err := r.Revoke(context.Background(), acct.ID); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			if n := fake.revoked(); n != 1 {
				t.Errorf("the CRM revoked %d refresh tokens, want 1", n)
			}
			_, err = cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Errorf("refresh with the revoked token: %v, want invalid_grant", err)
			}
			for _, v := range fake.violations() {
				t.Error(v)
			}
		})
	}

	t.Run("ErrNoRevocation", func(t *testing.T) {
		// amoCRM has no revocation endpoint: Revoke says so and sends nothing.
		amo := amocrmtest.NewServer(connectortest.NewBackend())
		t.Cleanup(amo.Close)
		db := storetest.MustOpen(t)
		acct := storetest.MustAccount(t, db, "amocrm", amo.URL, &oauth2.Token{AccessToken: "a", RefreshToken: "r"})
		r := &connectors.Resolver{Accounts: db, NoRateLimit: true, OAuth: map[string]*oauth2.Config{
			"amocrm": {ClientID: amocrmtest.ClientID, ClientSecret: amocrmtest.ClientSecret, RedirectURL: amocrmtest.RedirectURI}}}
		if err := r.Revoke(context.Background(), acct.ID); !errors.Is(err, connectors.ErrNoRevocation) {
			t.Fatalf("Revoke: %v, want ErrNoRevocation", err)
		}
	})
}

// authorize runs cfg's authorization code flow against a fake whose consent
// page approves at once, and returns the token.
func authorize(t *testing.T, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(cfg.AuthCodeURL("state"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %s → %q (%v)", resp.Status, resp.Header.Get("Location"), err)
	}
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if !strings.Contains(tok.RefreshToken, "refresh") {
		t.Fatalf("no refresh token in %+v", tok)
	}
	return tok
}
