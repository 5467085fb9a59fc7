package connectors_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/internal/testenv"
)

// perSecond is amoCRM's documented rate, the strictest per-second limit we have.
var perSecond = connectors.Limit{Name: "api", Rate: 7, Per: time.Second}

func TestRateLimiter_Wait(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~15 s: 100 calls at 7/s")
	}
	var mu sync.Mutex
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rdb := testenv.Redis(t)
	// Two "processes" share the account's limit through Redis.
	var clients []*http.Client
	for range 2 {
		tr := &connectors.Transport{Connector: "test", AccountID: 1, Base: srv.Client().Transport,
			Limiter: connectors.NewRateLimiter(rdb), Limits: []connectors.Limit{perSecond}}
		clients = append(clients, tr.Client())
	}
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for range 10 {
				req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
				resp, err := clients[g%2].Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if len(arrivals) != 100 {
		t.Fatalf("%d requests arrived, want 100", len(arrivals))
	}
	slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
	// Sliding window: no second, wherever it starts, sees more than 7.
	for i := range arrivals {
		n := 0
		for j := i; j < len(arrivals) && arrivals[j].Sub(arrivals[i]) < time.Second; j++ {
			n++
		}
		if n > perSecond.Rate {
			t.Fatalf("%d requests within 1s from request %d, want at most %d", n, i, perSecond.Rate)
		}
	}
}

func TestRateLimiter_WaitPastDeadline(t *testing.T) {
	l := connectors.NewRateLimiter(testenv.Redis(t))
	key := connectors.RateLimitKey("test", 1, "api")
	if _, err := l.Wait(t.Context(), key, perSecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := l.Wait(ctx, key, perSecond)
	var rl *connectors.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter <= 20*time.Millisecond {
		t.Fatalf("err = %v, want *RateLimitError with a RetryAfter past the deadline", err)
	}
}
