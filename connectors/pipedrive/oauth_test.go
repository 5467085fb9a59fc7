package pipedrive_test

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
	"github.com/crmsync/crmsync/connectors/pipedrive"
	"github.com/crmsync/crmsync/connectors/pipedrive/pipedrivetest"
)

// oauthFake is the fake with a settable clock, the app's registered
// scopes, and an x/oauth2 config built from the registry's Info, as cmd
// builds it.
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
	f.fake = mustFake(t, b, func(h *pipedrivetest.Handler) {
		h.Now = func() time.Time { return time.Unix(0, f.clock.Load()) }
		h.AccessToken = ""              // only tokens from the flow
		h.Scopes = pipedrive.Scopes     // what the app is registered with
		h.RateWindow = 10 * time.Minute // the fake's clock stands still
	})
	info, err := connectors.Lookup(pipedrive.Name)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = &oauth2.Config{
		ClientID:     f.h.ClientID,
		ClientSecret: f.h.ClientSecret,
		Endpoint:     info.Endpoint(f.srv.URL),
		RedirectURL:  pipedrivetest.DefaultRedirectURI,
		Scopes:       info.Scopes,
	}
	f.ctx = context.WithValue(ctx(t), oauth2.HTTPClient, f.srv.Client())
	return f
}

// authorize runs the consent redirect and returns the code.
func (f *oauthFake) authorize(t *testing.T) string {
	t.Helper()
	nofollow := *f.srv.Client()
	nofollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nofollow.Get(f.cfg.AuthCodeURL("state-1"))
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

// connector builds the client the way the resolver does: on the base URL
// the token named.
func (f *oauthFake) connector(t *testing.T, tok *oauth2.Token) *pipedrive.Client {
	base := pipedrive.BaseURL(tok)
	if base != f.srv.URL {
		t.Fatalf("api_domain = %q, want the fake's %q", base, f.srv.URL)
	}
	return pipedrive.New(connectors.Credentials{BaseURL: base, HTTPClient: pipedrivetest.BearerClient(f.srv.Client(), tok.AccessToken)})
}

func TestOAuth(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := mustOAuthFake(t)
		tok, err := f.cfg.Exchange(f.ctx, f.authorize(t))
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if ttl := time.Until(tok.Expiry); ttl < 59*time.Minute || ttl > time.Hour {
			t.Errorf("token lives %s, want about an hour", ttl)
		}
		// The registered scopes cover every operation the connector uses:
		// the fake answers 403 to a token whose app lacks a scope the
		// document requires.
		exerciseAll(t, f.connector(t, tok))

		// Two hours later the access token is dead; a refresh revives it.
		f.clock.Add(int64(2 * time.Hour))
		if _, err := f.connector(t, tok).ListUsers(ctx(t)); !errors.Is(err, connectors.ErrUnauthorized) {
			t.Fatalf("expired token: err = %v, want ErrUnauthorized", err)
		}
		expired := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
		fresh, err := f.cfg.TokenSource(f.ctx, expired).Token()
		if err != nil || fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == "" {
			t.Fatalf("refresh = %+v, %v; want a new access token", fresh, err)
		}
		if _, err := f.connector(t, fresh).ListUsers(ctx(t)); err != nil {
			t.Fatalf("refreshed token: %v", err)
		}
	})
	t.Run("ClientCredentialsInForm", func(t *testing.T) { // Pipedrive wants them in a Basic header
		f := mustOAuthFake(t)
		f.h.OnViolation = nil // expected here
		f.cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		if _, err := f.cfg.Exchange(f.ctx, f.authorize(t)); err == nil {
			t.Fatal("Exchange with the credentials in the form succeeded")
		}
		if v := f.h.Violations(); len(v) != 1 || !strings.Contains(v[0].Error(), "Basic") {
			t.Fatalf("violations = %v, want one naming the missing Basic header", v)
		}
	})
	t.Run("WrongSecret", func(t *testing.T) {
		f := mustOAuthFake(t)
		f.cfg.ClientSecret = "not-the-secret"
		_, err := f.cfg.Exchange(f.ctx, f.authorize(t))
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.ErrorCode != "invalid_client" {
			t.Fatalf("Exchange with a wrong secret: err = %v, want invalid_client", err)
		}
	})
	t.Run("MissingScope", func(t *testing.T) {
		f := mustOAuthFake(t)
		f.h.Scopes = slices.DeleteFunc(slices.Clone(pipedrive.Scopes), func(s string) bool { return s == "phone-integration" })
		tok, err := f.cfg.Exchange(f.ctx, f.authorize(t))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.connector(t, tok).LogCall(ctx(t), connectors.CallActivity{From: connectortest.Phone, To: "+74950000001"})
		if !errors.Is(err, connectors.ErrInvalid) || !strings.Contains(err.Error(), "status 403") {
			t.Fatalf("call log without phone-integration: err = %v, want ErrInvalid (403)", err)
		}
	})
	t.Run("CodeReused", func(t *testing.T) {
		f := mustOAuthFake(t)
		code := f.authorize(t)
		if _, err := f.cfg.Exchange(f.ctx, code); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cfg.Exchange(f.ctx, code); !isInvalidGrant(err) {
			t.Fatalf("second Exchange: err = %v, want invalid_grant", err)
		}
	})
	t.Run("RefreshTokenIdle60Days", func(t *testing.T) {
		f := mustOAuthFake(t)
		tok, err := f.cfg.Exchange(f.ctx, f.authorize(t))
		if err != nil {
			t.Fatal(err)
		}
		refresh := func() error {
			_, err := f.cfg.TokenSource(f.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			return err
		}
		f.clock.Add(int64(59 * 24 * time.Hour)) // used within 60 days: the clock restarts
		if err := refresh(); err != nil {
			t.Fatalf("refresh after 59 days: %v", err)
		}
		f.clock.Add(int64(pipedrive.RefreshTokenIdleTTL + time.Hour))
		if err := refresh(); !isInvalidGrant(err) {
			t.Fatalf("refresh after 60 idle days: err = %v, want invalid_grant", err)
		}
	})
}

func isInvalidGrant(err error) bool {
	re, ok := errors.AsType[*oauth2.RetrieveError](err)
	return ok && re.ErrorCode == "invalid_grant"
}

// exerciseAll calls every operation the connector has.
func exerciseAll(t *testing.T, c *pipedrive.Client) {
	t.Helper()
	if _, err := c.ListUsers(ctx(t)); err != nil {
		t.Errorf("ListUsers: %v", err)
	}
	for _, k := range connectors.DefaultOrder {
		if got, err := c.FindByPhone(ctx(t), k, connectortest.Phone); err != nil || len(got) == 0 {
			t.Errorf("FindByPhone(%s) = %v, %v", k, got, err)
		}
	}
	call := connectors.CallActivity{From: connectortest.Phone, To: "+74950000001", Duration: time.Minute,
		Answered: true, AnsweredBy: "2", Entity: &connectors.EntityRef{Kind: connectors.KindLead, ID: "30001"}}
	ref, err := c.LogCall(ctx(t), call)
	if err != nil {
		t.Errorf("LogCall: %v", err)
	}
	call.Ref, call.Comment = ref, "Wants a callback"
	if _, err := c.LogCall(ctx(t), call); err != nil {
		t.Errorf("LogCall (update): %v", err)
	}
	if _, err := c.CreateTask(ctx(t), connectors.Task{ResponsibleUserID: "2", Text: "Call back",
		Entity: &connectors.EntityRef{Kind: connectors.KindDeal, ID: "20001"}}); err != nil {
		t.Errorf("CreateTask: %v", err)
	}
	for _, k := range connectors.DefaultOrder {
		if _, err := c.CreateEntity(ctx(t), connectors.NewEntity{Kind: k, Title: "Caller", Phone: "+79035550000"}); err != nil {
			t.Errorf("CreateEntity(%s): %v", k, err)
		}
	}
	if _, err := c.CountOwned(ctx(t), "2"); err != nil {
		t.Errorf("CountOwned: %v", err)
	}
}
