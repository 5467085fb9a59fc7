package bitrix24_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/bitrix24"
	"github.com/crmsync/crmsync/connectors/bitrix24/bitrix24test"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
)

// fixture is one portal behind a fake, an account for it in the real
// store, and a way to build independent "processes" (Resolvers) sharing
// Redis and the store; every request they send passes a wire spy.
type fixture struct {
	srv        *bitrix24test.Server
	db         *store.DB
	account    store.Account
	wire       *wireSpy
	newProcess func() *connectors.Resolver
}

func newFixture(t *testing.T, tok func(*bitrix24test.Server) *oauth2.Token) fixture {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	srv := bitrix24test.NewServer(b)
	t.Cleanup(srv.Close)
	db := storetest.MustOpen(t)
	acct := storetest.MustAccount(t, db, bitrix24.Name, srv.BaseURL(), tok(srv))
	rdb := testenv.Redis(t)
	wire := &wireSpy{next: srv.Client().Transport}
	return fixture{srv: srv, db: db, account: acct, wire: wire, newProcess: func() *connectors.Resolver {
		return &connectors.Resolver{
			Accounts:    db,
			OAuth:       map[string]*oauth2.Config{bitrix24.Name: bitrix24test.Config("")},
			Redis:       rdb,
			Base:        wire,
			NoRateLimit: true, // 2 req/s would make 100 lookups take a minute
		}
	}}
}

func expired(srv *bitrix24test.Server) *oauth2.Token {
	return srv.IssueToken(time.Now().Add(-time.Minute))
}

// wireSpy records what reaches the portal's REST API.
type wireSpy struct {
	next http.RoundTripper

	mu       sync.Mutex
	requests int
	bad      []string // requests with a header token or without auth=
}

func (w *wireSpy) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/rest/") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		w.mu.Lock()
		w.requests++
		if r.Header.Get("Authorization") != "" || form.Get("auth") == "" || r.URL.Query().Has("auth") {
			w.bad = append(w.bad, r.Method+" "+r.URL.Path)
		}
		w.mu.Unlock()
	}
	return w.next.RoundTrip(r)
}

func (w *wireSpy) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.requests == 0 || len(w.bad) > 0 {
		t.Errorf("%d API requests; %d without the token in the auth body parameter alone: %v", w.requests, len(w.bad), w.bad)
	}
}

func TestResolver_RefreshRace(t *testing.T) {
	f := newFixture(t, expired)
	procs := []*connectors.Resolver{f.newProcess(), f.newProcess()}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 100)
	for _, p := range procs {
		for range 50 {
			wg.Go(func() {
				<-start
				c, err := p.ConnectorFor(t.Context(), f.account.ID)
				if err == nil {
					_, err = c.FindByPhone(t.Context(), connectors.KindContact, connectortest.Phone)
				}
				errs <- err
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("lookup: %v", err)
		}
	}
	if r, rej := f.srv.Refreshes(), f.srv.Rejected(); r != 1 || rej != 0 {
		t.Fatalf("refreshes = %d, spent refresh tokens sent = %d; want 1 and 0", r, rej)
	}
	stored, err := f.db.LoadToken(t.Context(), f.account.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The stored pair is the live one: refreshing with it works.
	ctx := t.Context()
	if _, err := bitrix24.Refresh(contextWithClient(ctx, f.srv), bitrix24test.Config(f.srv.BaseURL()), stored.RefreshToken); err != nil {
		t.Fatalf("stored refresh token: %v", err)
	}
	f.wire.check(t)
}

func TestResolver_ConnectorFor(t *testing.T) {
	t.Run("ErrUnauthorized", func(t *testing.T) { // a spent refresh token: needs_relink, sent once
		f := newFixture(t, func(srv *bitrix24test.Server) *oauth2.Token {
			tok := expired(srv)
			if _, err := bitrix24.Refresh(contextWithClient(t.Context(), srv), bitrix24test.Config(srv.BaseURL()), tok.RefreshToken); err != nil {
				t.Fatal(err) // another installation of crmsync used it
			}
			return tok
		})
		c, err := f.newProcess().ConnectorFor(t.Context(), f.account.ID)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := c.ListUsers(t.Context()); !errors.Is(err, connectors.ErrUnauthorized) {
				t.Fatalf("ListUsers err = %v, want ErrUnauthorized", err)
			}
		}
		a, err := f.db.Account(t.Context(), f.account.TenantID, f.account.ID)
		if err != nil || a.Status != connectors.StatusNeedsRelink {
			t.Fatalf("account = %+v, %v; want needs_relink", a, err)
		}
		if rej := f.srv.Rejected(); rej != 1 {
			t.Fatalf("spent refresh token sent %d times, want 1", rej)
		}
	})
	t.Run("RevokedAccessToken", func(t *testing.T) { // 401 invalid_token → one refresh, one retry
		var first *oauth2.Token
		f := newFixture(t, func(srv *bitrix24test.Server) *oauth2.Token {
			first = srv.IssueToken(time.Now().Add(time.Hour))
			return first
		})
		f.srv.RevokeAccess(first.AccessToken)
		c, err := f.newProcess().ConnectorFor(t.Context(), f.account.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.LogCall(t.Context(), inbound("pbx-r")); err != nil {
			t.Fatalf("LogCall: %v", err)
		}
		if r := f.srv.Refreshes(); r != 1 {
			t.Fatalf("refreshes = %d, want 1", r)
		}
		f.wire.check(t)
	})
}

func contextWithClient(ctx context.Context, srv *bitrix24test.Server) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, srv.Client())
}

// The application token of an ONAPPINSTALL, stored through the real store,
// reaches connectors built afterwards, which then accept the portal's
// events and nothing else.
func TestResolver_WebhookSecret(t *testing.T) {
	f := newFixture(t, func(srv *bitrix24test.Server) *oauth2.Token { return srv.IssueToken(time.Now().Add(time.Hour)) })
	ctx := t.Context()
	parse := func(c connectors.Connector, v url.Values) ([]connectors.Change, error) {
		body := v.Encode()
		return c.(connectors.WebhookParser).ParseWebhook(httptest.NewRequest("POST", "/hooks/bitrix24/1", strings.NewReader(body)), []byte(body))
	}
	before, err := f.newProcess().ConnectorFor(ctx, f.account.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parse(before, f.srv.Event("ONCRMDEALUPDATE", "7")); !errors.Is(err, connectors.ErrUnauthorized) {
		t.Fatalf("event before ONAPPINSTALL: err = %v, want ErrUnauthorized", err)
	}
	install := f.srv.InstallEvent().Encode()
	secret, err := before.(*bitrix24.Client).ClaimWebhookSecret(httptest.NewRequest("POST", "/hooks/bitrix24/1", strings.NewReader(install)), []byte(install))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.db.ClaimWebhookSecret(ctx, f.account.ID, secret); !ok || err != nil {
		t.Fatalf("ClaimWebhookSecret = %v, %v", ok, err)
	}
	after, err := f.newProcess().ConnectorFor(ctx, f.account.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parse(after, f.srv.Event("ONCRMDEALUPDATE", "7"))
	if err != nil || len(got) != 1 || got[0].EntityID != "7" {
		t.Fatalf("event after ONAPPINSTALL: %+v, %v", got, err)
	}
	forged := f.srv.Event("ONCRMDEALUPDATE", "7")
	forged.Set("auth[application_token]", "guessed")
	if _, err := parse(after, forged); !errors.Is(err, connectors.ErrUnauthorized) {
		t.Fatalf("forged event: err = %v, want ErrUnauthorized", err)
	}
	f.wire.check(t)
}
