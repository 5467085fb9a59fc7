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
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
)

// fixture is one amo account behind a fake, the real store holding it, and
// a way to build independent "processes" (Resolvers) sharing Redis and the
// store.
type fixture struct {
	srv        *amocrmtest.Server
	store      *countingStore
	account    store.Account
	newProcess func() *connectors.Resolver
}

// countingStore is the real store, counting the tokens it saved: the race
// test's point is that the one refreshed token is persisted exactly once.
type countingStore struct {
	*store.DB
	mu    sync.Mutex
	saves int
}

func (s *countingStore) SaveToken(ctx context.Context, id int64, tok *oauth2.Token) error {
	err := s.DB.SaveToken(ctx, id, tok)
	if err == nil {
		s.mu.Lock()
		s.saves++
		s.mu.Unlock()
	}
	return err
}

func (s *countingStore) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

func newFixture(t *testing.T, tok func(*amocrmtest.Server) *oauth2.Token) fixture {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	srv := amocrmtest.NewServer(b)
	t.Cleanup(srv.Close)
	db := storetest.MustOpen(t)
	account := storetest.MustAccount(t, db, amocrm.Name, srv.URL, tok(srv))
	store := &countingStore{DB: db}
	rdb := testenv.Redis(t)
	app := amocrmtest.Config(srv.URL)
	return fixture{srv: srv, store: store, account: account, newProcess: func() *connectors.Resolver {
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
	if f.store.Saves() != 1 {
		t.Fatalf("saves = %d, want 1", f.store.Saves())
	}
	// The stored token is the one refresh's: its refresh token is the live
	// one at the fake, so the next refresh succeeds.
	stored, err := f.store.LoadToken(t.Context(), f.account.ID)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, f.srv.Client())
	if _, err := amocrm.Refresh(ctx, amocrmtest.Config(f.srv.URL), stored.RefreshToken); err != nil {
		t.Fatalf("refresh with the stored refresh token: %v", err)
	}
	if rej := f.srv.Rejected(); rej != 0 {
		t.Fatalf("stored refresh token rejected (%d), want the live one", rej)
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
		c, err := p.ConnectorFor(t.Context(), f.account.ID)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := c.ListUsers(t.Context()); !errors.Is(err, connectors.ErrUnauthorized) {
				t.Fatalf("ListUsers err = %v, want ErrUnauthorized", err)
			}
		}
		if a, err := f.store.Account(t.Context(), f.account.TenantID, f.account.ID); err != nil ||
			a.Status != connectors.StatusNeedsRelink || a.StatusReason == "" {
			t.Fatalf("account = %+v, %v; want needs_relink with a reason", a, err)
		}
		if rej := f.srv.Rejected(); rej != 1 {
			t.Fatalf("spent refresh token sent %d times, want 1", rej)
		}
		if _, err := f.newProcess().ConnectorFor(t.Context(), f.account.ID); !errors.Is(err, connectors.ErrUnauthorized) {
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
		c, err := f.newProcess().ConnectorFor(t.Context(), f.account.ID)
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
		if _, err := f.newProcess().ConnectorFor(t.Context(), f.account.ID+999); !errors.Is(err, connectors.ErrNotFound) {
			t.Fatalf("err = %v, want the store's not found", err)
		}
	})
}
