package hubspot_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/hubspot"
	"github.com/crmsync/crmsync/connectors/hubspot/hubspottest"
)

// oauthFake is the fake with a settable clock and an x/oauth2 config built
// from the registry's Info, as cmd builds it.
type oauthFake struct {
	*fake
	clock atomic.Int64 // Unix nanoseconds
	cfg   *oauth2.Config
	ctx   context.Context // carries the test server's HTTP client for x/oauth2
}

func mustOAuthFake(t *testing.T) *oauthFake {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	f := &oauthFake{}
	f.clock.Store(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixNano())
	f.fake = mustFake(t, b, func(h *hubspottest.Handler) {
		h.Now = func() time.Time { return time.Unix(0, f.clock.Load()) }
		h.AccessToken = "" // only tokens from the flow
	})
	info, err := connectors.Lookup(hubspot.Name)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = &oauth2.Config{
		ClientID:     f.h.ClientID,
		ClientSecret: f.h.ClientSecret,
		Endpoint:     info.Endpoint(f.srv.URL),
		RedirectURL:  "https://crmsync.example.com/connect/hubspot/callback",
		Scopes:       info.Scopes,
	}
	f.ctx = context.WithValue(ctx(t), oauth2.HTTPClient, f.srv.Client())
	return f
}

// authorize runs the consent redirect and returns the code.
func (f *oauthFake) authorize(t *testing.T, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	nofollow := *f.srv.Client()
	nofollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nofollow.Get(f.cfg.AuthCodeURL("state-1", opts...))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || loc.Query().Get("state") != "state-1" {
		t.Fatalf("authorize: %d to %q (%v)", resp.StatusCode, loc, err)
	}
	return loc.Query().Get("code")
}

func (f *oauthFake) connector(tok *oauth2.Token) *hubspot.Client {
	return hubspot.New(connectors.Credentials{BaseURL: f.srv.URL, HTTPClient: bearerClient(f.srv, tok.AccessToken)})
}

func TestOAuth(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := mustOAuthFake(t)
		verifier := oauth2.GenerateVerifier()
		code := f.authorize(t, oauth2.S256ChallengeOption(verifier))
		tok, err := f.cfg.Exchange(f.ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if ttl := time.Until(tok.Expiry); ttl < 29*time.Minute || ttl > 30*time.Minute+time.Second {
			t.Errorf("token lives %s, want 30m", ttl)
		}
		if hub, _ := tok.Extra("hub_id").(float64); hub != hubspottest.HubID || tok.RefreshToken == "" {
			t.Errorf("token: hub_id %v, refresh %q", tok.Extra("hub_id"), tok.RefreshToken)
		}
		// The linked scopes cover every operation the connector uses: the
		// fake answers 403 to a token missing a scope the document requires.
		exerciseAll(t, f.connector(tok))

		// 31 minutes later the access token is dead; a refresh revives it.
		f.clock.Add(int64(31 * time.Minute))
		if _, err := f.connector(tok).ListUsers(ctx(t)); !errors.Is(err, connectors.ErrUnauthorized) {
			t.Fatalf("expired token: err = %v, want ErrUnauthorized", err)
		}
		expired := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
		fresh, err := f.cfg.TokenSource(f.ctx, expired).Token()
		if err != nil || fresh.AccessToken == tok.AccessToken || fresh.RefreshToken != tok.RefreshToken {
			t.Fatalf("refresh = %+v, %v; want a new access token and the same refresh token", fresh, err)
		}
		if _, err := f.connector(fresh).ListUsers(ctx(t)); err != nil {
			t.Fatalf("refreshed token: %v", err)
		}
	})
	t.Run("WrongVerifier", func(t *testing.T) {
		f := mustOAuthFake(t)
		code := f.authorize(t, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		if _, err := f.cfg.Exchange(f.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
			t.Fatal("Exchange with the wrong code_verifier succeeded")
		}
	})
	t.Run("CodeReused", func(t *testing.T) {
		f := mustOAuthFake(t)
		code := f.authorize(t)
		if _, err := f.cfg.Exchange(f.ctx, code); err != nil {
			t.Fatal(err)
		}
		var re *oauth2.RetrieveError
		if _, err := f.cfg.Exchange(f.ctx, code); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("second Exchange: err = %v, want invalid_grant", err)
		}
	})
	t.Run("MissingScope", func(t *testing.T) {
		f := mustOAuthFake(t)
		f.cfg.Scopes = slices.DeleteFunc(slices.Clone(f.cfg.Scopes), func(s string) bool { return s == "crm.objects.leads.read" })
		tok, err := f.cfg.Exchange(f.ctx, f.authorize(t))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.connector(tok).FindByPhone(ctx(t), connectors.KindLead, connectortest.Phone)
		if !errors.Is(err, connectors.ErrInvalid) || !strings.Contains(err.Error(), "status 403: MISSING_SCOPES") {
			t.Fatalf("lead search without crm.objects.leads.read: err = %v, want ErrInvalid (403)", err)
		}
	})
}

// exerciseAll calls every operation the connector has.
func exerciseAll(t *testing.T, c *hubspot.Client) {
	t.Helper()
	if _, err := c.ListUsers(ctx(t)); err != nil {
		t.Errorf("ListUsers: %v", err)
	}
	for _, k := range connectors.DefaultOrder {
		if got, err := c.FindByPhone(ctx(t), k, connectortest.Phone); err != nil || len(got) == 0 {
			t.Errorf("FindByPhone(%s) = %v, %v", k, got, err)
		}
	}
	ref, err := c.LogCall(ctx(t), testCall(1, &connectors.EntityRef{Kind: connectors.KindLead, ID: "30001"}))
	if err != nil {
		t.Errorf("LogCall: %v", err)
	}
	upd := testCall(1, nil)
	upd.Ref = ref
	if _, err := c.LogCalls(ctx(t), []connectors.CallActivity{testCall(2, nil), upd}); err != nil {
		t.Errorf("LogCalls: %v", err)
	}
	if _, err := c.CountOwned(ctx(t), "2"); err != nil {
		t.Errorf("CountOwned: %v", err)
	}
}

// TestOAuth_DatedTokenPath checks the fake serves HubSpot's date-versioned
// token path too, validated as the v3 endpoint it aliases.
func TestOAuth_DatedTokenPath(t *testing.T) {
	f := mustOAuthFake(t)
	f.cfg.Endpoint.TokenURL = f.srv.URL + "/oauth/2026-03/token"
	if _, err := f.cfg.Exchange(f.ctx, f.authorize(t)); err != nil {
		t.Fatalf("Exchange on /oauth/2026-03/token: %v", err)
	}
}
