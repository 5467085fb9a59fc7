package pipedrive_test

import (
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/pipedrive"
	"github.com/crmsync/crmsync/connectors/pipedrive/pipedrivetest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
)

// linked is a Pipedrive company behind the fake, linked as an account in
// the real store (PostgreSQL when configured, else SQLite), with a way to
// build independent "processes" (Resolvers) sharing Redis and the store.
type linked struct {
	h          *pipedrivetest.Handler
	db         *store.DB
	id         int64
	newProcess func() *connectors.Resolver
}

// mustLink links an account whose token tok returns (from the fake, as
// the OAuth flow would leave it) at the fake's api_domain.
func mustLink(t *testing.T, tok func(*pipedrivetest.Handler) *oauth2.Token) linked {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	h, err := pipedrivetest.NewHandler(b)
	if err != nil {
		t.Fatal(err)
	}
	h.OnViolation = func(err error) { t.Errorf("spec violation: %v", err) }
	h.AccessToken = "" // only tokens the fake issued
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	db := storetest.MustOpen(t)
	acct := storetest.MustAccount(t, db, pipedrive.Name, srv.URL, tok(h))
	rdb := testenv.Redis(t)
	app := h.Config(srv.URL)
	return linked{h: h, db: db, id: acct.ID, newProcess: func() *connectors.Resolver {
		return &connectors.Resolver{
			Accounts:    db,
			OAuth:       map[string]*oauth2.Config{pipedrive.Name: app},
			Redis:       rdb,
			Base:        srv.Client().Transport,
			NoRateLimit: true, // the shared limiter is tested in package connectors
		}
	}}
}

func expired(h *pipedrivetest.Handler) *oauth2.Token {
	return h.IssueToken(time.Now().Add(-time.Minute))
}

// TestResolver_RefreshRace: two processes, 50 lookups each, all starting
// on an expired token: exactly one refresh reaches Pipedrive, and every
// lookup succeeds with the token it saved.
func TestResolver_RefreshRace(t *testing.T) {
	l := mustLink(t, expired)
	l.h.RotateRefreshTokens = true // a spent refresh token sent twice would show
	procs := []*connectors.Resolver{l.newProcess(), l.newProcess()}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 100)
	for _, p := range procs {
		for range 50 {
			wg.Go(func() {
				<-start
				c, err := p.ConnectorFor(ctx(t), l.id)
				if err == nil {
					_, err = c.FindByPhone(ctx(t), connectors.KindContact, connectortest.Phone)
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
	if r, rej := l.h.Refreshes(), l.h.Rejected(); r != 1 || rej != 0 {
		t.Fatalf("refreshes = %d, refused refresh grants = %d; want 1 and 0", r, rej)
	}
	tok, err := l.db.LoadToken(ctx(t), l.id)
	if err != nil || !tok.Valid() {
		t.Fatalf("stored token = %+v, %v; want the refreshed one", tok, err)
	}
}

func TestResolver_ConnectorFor(t *testing.T) {
	t.Run("RevokedAccessToken", func(t *testing.T) { // 401 → one refresh, one retry
		var first *oauth2.Token
		l := mustLink(t, func(h *pipedrivetest.Handler) *oauth2.Token {
			first = h.IssueToken(time.Now().Add(time.Hour))
			return first
		})
		l.h.RevokeAccess(first.AccessToken)
		c, err := l.newProcess().ConnectorFor(ctx(t), l.id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.FindByPhone(ctx(t), connectors.KindDeal, connectortest.Phone); err != nil {
			t.Fatalf("FindByPhone: %v", err)
		}
		if r := l.h.Refreshes(); r != 1 {
			t.Fatalf("refreshes = %d, want 1", r)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) { // refresh token idle for 60 days: needs_relink
		var now time.Time
		l := mustLink(t, func(h *pipedrivetest.Handler) *oauth2.Token {
			tok := expired(h)
			h.Now = func() time.Time { return now }
			return tok
		})
		now = time.Now().Add(pipedrive.RefreshTokenIdleTTL + time.Hour)
		c, err := l.newProcess().ConnectorFor(ctx(t), l.id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ListUsers(ctx(t)); !errors.Is(err, connectors.ErrUnauthorized) {
			t.Fatalf("ListUsers err = %v, want ErrUnauthorized", err)
		}
		if a, err := l.db.FindAccount(ctx(t), l.id); err != nil || a.Status != connectors.StatusNeedsRelink {
			t.Fatalf("account = %+v, %v; want needs_relink", a, err)
		}
	})
}
