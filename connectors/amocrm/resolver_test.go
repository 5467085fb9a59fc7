package amocrm_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/internal/testenv"
)

const accountID = 42

// fixture is one amo account behind a fake, its store, and a way to build
// independent "processes" (Resolvers) sharing Redis and the store.
type fixture struct {
	srv        *amocrmtest.Server
	store      *connectortest.MemStore
	newProcess func() *connectors.Resolver
}

func newFixture(t *testing.T, tok func(*amocrmtest.Server) *oauth2.Token) fixture {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	srv := amocrmtest.NewServer(b)
	t.Cleanup(srv.Close)
	store := connectortest.NewMemStore()
	store.AddAccount(connectors.Account{ID: accountID, Connector: amocrm.Name, BaseURL: srv.URL}, tok(srv))
	rdb := testenv.Redis(t)
	app := amocrmtest.Config(srv.URL)
	return fixture{srv: srv, store: store, newProcess: func() *connectors.Resolver {
		return &connectors.Resolver{
			Accounts:    store,
			OAuth:       map[string]*oauth2.Config{amocrm.Name: app},
			Redis:       rdb,
			Base:        srv.Client().Transport,
			NoRateLimit: true, // 7 req/s would make 100 lookups take 30 s; TestRateLimiter covers it
		}
	}}
}

func expired(srv *amocrmtest.Server) *oauth2.Token {
	return srv.IssueToken(time.Now().Add(-time.Minute))
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
				c, err := p.ConnectorFor(t.Context(), accountID)
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
	if f.store.Saves() != 1 {
		t.Fatalf("saves = %d, want 1", f.store.Saves())
	}
}

func TestResolver_ConnectorFor(t *testing.T) {
	t.Run("ErrUnauthorized", func(t *testing.T) { // a spent refresh token: needs_relink, no retry loop
		f := newFixture(t, func(srv *amocrmtest.Server) *oauth2.Token {
			tok := expired(srv)
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
			if _, err := amocrm.Refresh(ctx, amocrmtest.Config(srv.URL), tok.RefreshToken); err != nil {
				t.Fatal(err) // another installation used it
			}
			return tok
		})
		p := f.newProcess()
		c, err := p.ConnectorFor(t.Context(), accountID)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := c.ListUsers(t.Context()); !errors.Is(err, connectors.ErrUnauthorized) {
				t.Fatalf("ListUsers err = %v, want ErrUnauthorized", err)
			}
		}
		if a, _ := f.store.FindAccount(t.Context(), accountID); a.Status != connectors.StatusNeedsRelink {
			t.Fatalf("status = %q, want needs_relink", a.Status)
		}
		if rej := f.srv.Rejected(); rej != 1 {
			t.Fatalf("spent refresh token sent %d times, want 1", rej)
		}
		if _, err := f.newProcess().ConnectorFor(t.Context(), accountID); !errors.Is(err, connectors.ErrUnauthorized) {
			t.Fatalf("new process: err = %v, want ErrUnauthorized for a needs_relink account", err)
		}
	})
	t.Run("RevokedAccessToken", func(t *testing.T) { // 401 → one refresh, one retry
		var first *oauth2.Token
		f := newFixture(t, func(srv *amocrmtest.Server) *oauth2.Token {
			first = srv.IssueToken(time.Now().Add(time.Hour))
			return first
		})
		f.srv.RevokeAccess(first.AccessToken)
		c, err := f.newProcess().ConnectorFor(t.Context(), accountID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.FindByPhone(t.Context(), connectors.KindDeal, connectortest.Phone); err != nil {
			t.Fatalf("FindByPhone: %v", err)
		}
		if r := f.srv.Refreshes(); r != 1 {
			t.Fatalf("refreshes = %d, want 1", r)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		f := newFixture(t, expired)
		if _, err := f.newProcess().ConnectorFor(t.Context(), 999); !errors.Is(err, connectors.ErrNotFound) {
			t.Fatalf("err = %v, want the store's not found", err)
		}
	})
}
