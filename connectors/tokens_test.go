package connectors_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/internal/testenv"
)

// tokenServer is a standard OAuth token endpoint (RFC 6749 errors) with
// single-use refresh tokens.
type tokenServer struct {
	*httptest.Server
	mu        sync.Mutex
	live      map[string]bool // refresh token → unused
	refreshes int
	rejected  int
	fail      int // answer this many requests with 503
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{live: map[string]bool{}}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	return ts
}

func randHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// issue returns a token pair whose access token expires at exp.
func (ts *tokenServer) issue(exp time.Time) *oauth2.Token {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tok := &oauth2.Token{AccessToken: "at-" + randHex(), RefreshToken: "rt-" + randHex(), TokenType: "Bearer", Expiry: exp}
	ts.live[tok.RefreshToken] = true
	return tok
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if ts.fail > 0 {
		ts.fail--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rt := r.PostForm.Get("refresh_token")
	if r.PostForm.Get("grant_type") != "refresh_token" || !ts.live[rt] {
		ts.rejected++
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"refresh token spent"}`))
		return
	}
	ts.live[rt] = false
	ts.refreshes++
	next := "rt-" + randHex()
	ts.live[next] = true
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "at-" + randHex(), "refresh_token": next, "token_type": "Bearer", "expires_in": 3600,
	})
}

func (ts *tokenServer) counts() (refreshes, rejected int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.refreshes, ts.rejected
}

// newSource is one "process": its own TokenSource (own cache) on shared
// Redis and store.
func newSource(ts *tokenServer, store connectors.TokenStore, rdb redis.UniversalClient, accountID int64) *connectors.TokenSource {
	return &connectors.TokenSource{
		AccountID:  accountID,
		Store:      store,
		Redis:      rdb,
		Config:     &oauth2.Config{ClientID: "id", ClientSecret: "secret", Endpoint: oauth2.Endpoint{TokenURL: ts.URL, AuthStyle: oauth2.AuthStyleInParams}},
		HTTPClient: ts.Client(),
	}
}

func TestTokenSource_Token(t *testing.T) {
	t.Run("RefreshRace", func(t *testing.T) {
		ts := newTokenServer(t)
		db, acc := mustAccount(t, ts.issue(time.Now().Add(-time.Hour)))
		store := &countingStore{DB: db}
		shared := testenv.Redis(t)
		procs := []*connectors.TokenSource{newSource(ts, store, shared, acc.ID), newSource(ts, store, shared, acc.ID)}

		var wg sync.WaitGroup
		start := make(chan struct{})
		got := make(chan string, 100)
		errs := make(chan error, 100)
		for _, p := range procs {
			for range 50 {
				wg.Go(func() {
					<-start
					tok, err := p.Token(t.Context())
					if err != nil {
						errs <- err
						return
					}
					got <- tok.AccessToken
				})
			}
		}
		close(start)
		wg.Wait()
		close(errs)
		close(got)
		for err := range errs {
			t.Errorf("Token: %v", err)
		}
		seen := map[string]int{}
		for at := range got {
			seen[at]++
		}
		refreshes, rejected := ts.counts()
		if refreshes != 1 || rejected != 0 || len(seen) != 1 || store.Saves() != 1 {
			t.Fatalf("refreshes=%d rejected=%d distinct tokens=%d saves=%d; want 1, 0, 1, 1",
				refreshes, rejected, len(seen), store.Saves())
		}
		// What the store holds is the single refresh's token: the one every
		// caller got, with the refresh token the server holds live.
		stored, err := db.LoadToken(t.Context(), acc.ID)
		if err != nil {
			t.Fatal(err)
		}
		ts.mu.Lock()
		live := ts.live[stored.RefreshToken]
		ts.mu.Unlock()
		if seen[stored.AccessToken] == 0 || !live {
			t.Fatalf("stored token %+v (refresh token live: %v) is not the refreshed one, seen %v", stored, live, seen)
		}
	})
	t.Run("Cached", func(t *testing.T) {
		ts := newTokenServer(t)
		valid := ts.issue(time.Now().Add(time.Hour))
		store, acc := mustAccount(t, valid)
		src := newSource(ts, store, testenv.Redis(t), acc.ID)
		for range 3 {
			tok, err := src.Token(t.Context())
			if err != nil || tok.AccessToken != valid.AccessToken {
				t.Fatalf("Token = %v, %v; want the stored token", tok, err)
			}
		}
		if n, _ := ts.counts(); n != 0 {
			t.Fatalf("%d refreshes, want 0", n)
		}
	})
	t.Run("RenewUsesNewerStored", func(t *testing.T) {
		ts := newTokenServer(t)
		old := ts.issue(time.Now().Add(time.Hour))
		store, acc := mustAccount(t, old)
		src := newSource(ts, store, testenv.Redis(t), acc.ID)
		if _, err := src.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
		newer := ts.issue(time.Now().Add(time.Hour)) // another process refreshed
		_ = store.SaveToken(t.Context(), acc.ID, newer)
		tok, err := src.Renew(t.Context(), old.AccessToken)
		if err != nil || tok.AccessToken != newer.AccessToken {
			t.Fatalf("Renew = %v, %v; want the newer stored token", tok, err)
		}
		if n, _ := ts.counts(); n != 0 {
			t.Fatalf("%d refreshes, want 0", n)
		}
		// Renewing the newer token itself refreshes.
		tok, err = src.Renew(t.Context(), newer.AccessToken)
		if err != nil || tok.AccessToken == newer.AccessToken {
			t.Fatalf("Renew = %v, %v; want a refreshed token", tok, err)
		}
	})
	t.Run("WaitsForLockHolder", func(t *testing.T) {
		ts := newTokenServer(t)
		store, acc := mustAccount(t, ts.issue(time.Now().Add(-time.Hour)))
		rdb := testenv.Redis(t)
		src := newSource(ts, store, rdb, acc.ID)
		// Another process holds the lock and is refreshing.
		if err := rdb.Set(t.Context(), connectors.RefreshLockKey(acc.ID), "other", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		res := make(chan *oauth2.Token, 1)
		go func() {
			tok, err := src.Token(t.Context())
			if err != nil {
				t.Error(err)
			}
			res <- tok
		}()
		fresh := ts.issue(time.Now().Add(time.Hour))
		_ = store.SaveToken(t.Context(), acc.ID, fresh) // the other process saves its refresh
		if tok := <-res; tok == nil || tok.AccessToken != fresh.AccessToken {
			t.Fatalf("Token = %v, want the token the lock holder saved", tok)
		}
		if n, _ := ts.counts(); n != 0 {
			t.Fatalf("%d refreshes, want 0", n)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) { // invalid_grant → needs_relink, once
		ts := newTokenServer(t)
		spent := ts.issue(time.Now().Add(-time.Hour))
		ts.live[spent.RefreshToken] = false
		store, acc := mustAccount(t, spent)
		src := newSource(ts, store, testenv.Redis(t), acc.ID)
		for range 3 {
			if _, err := src.Token(t.Context()); !errors.Is(err, connectors.ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
		}
		a, err := store.Account(t.Context(), acc.TenantID, acc.ID)
		if err != nil || a.Status != connectors.StatusNeedsRelink || a.StatusReason == "" {
			t.Fatalf("account = %+v, %v; want needs_relink with a reason", a, err)
		}
		if _, rejected := ts.counts(); rejected != 1 {
			t.Fatalf("spent refresh token sent %d times, want 1", rejected)
		}
	})
	t.Run("Transient", func(t *testing.T) {
		ts := newTokenServer(t)
		ts.fail = 1
		store, acc := mustAccount(t, ts.issue(time.Now().Add(-time.Hour)))
		src := newSource(ts, store, testenv.Redis(t), acc.ID)
		_, err := src.Token(t.Context())
		if err == nil || errors.Is(err, connectors.ErrUnauthorized) {
			t.Fatalf("err = %v, want a transient error", err)
		}
		if a, _ := store.FindAccount(t.Context(), acc.ID); a.Status != connectors.StatusConnected {
			t.Fatalf("status = %s after a 503, want connected", a.Status)
		}
		if _, err := src.Token(t.Context()); err != nil { // the refresh token was not spent
			t.Fatalf("retry: %v", err)
		}
	})
	t.Run("CallerDeadline", func(t *testing.T) {
		ts := newTokenServer(t)
		store, acc := mustAccount(t, ts.issue(time.Now().Add(-time.Hour)))
		rdb := testenv.Redis(t)
		_ = rdb.Set(t.Context(), connectors.RefreshLockKey(acc.ID), "other", time.Minute).Err()
		src := newSource(ts, store, rdb, acc.ID)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := src.Token(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
	})
}
