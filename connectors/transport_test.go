package connectors_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/internal/testenv"
)

// apiServer answers with the statuses in script, one per request, then 200;
// it records each request's body and Authorization header.
type apiServer struct {
	*httptest.Server
	mu     sync.Mutex
	script []int
	header http.Header // added to scripted answers
	bodies []string
	auths  []string
}

func newAPIServer(t *testing.T, script ...int) *apiServer {
	s := &apiServer{script: script, header: http.Header{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		status := http.StatusOK
		if len(s.script) > 0 {
			status, s.script = s.script[0], s.script[1:]
			for k, v := range s.header {
				w.Header()[k] = v
			}
		}
		s.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

// recordSleeps makes tr's retry waits instant and returns what they were.
func recordSleeps(tr *connectors.Transport) *[]time.Duration {
	var waits []time.Duration
	connectors.SetSleep(tr, func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	})
	return &waits
}

func post(t *testing.T, c *http.Client, ctx context.Context, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func TestTransport_RoundTrip(t *testing.T) {
	t.Run("Retries5xx", func(t *testing.T) {
		srv := newAPIServer(t, 503, 500)
		tr := &connectors.Transport{Connector: "test", Base: srv.Client().Transport}
		waits := recordSleeps(tr)
		resp, err := post(t, tr.Client(), t.Context(), srv.URL)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("resp = %v, %v; want 200", resp, err)
		}
		if diff := cmp.Diff([]string{`{"n":1}`, `{"n":1}`, `{"n":1}`}, srv.bodies); diff != "" {
			t.Errorf("bodies sent (-want +got):\n%s", diff)
		}
		if len(*waits) != 2 {
			t.Errorf("waits = %v, want 2 backoffs", *waits)
		}
	})
	t.Run("BudgetBounded", func(t *testing.T) {
		srv := newAPIServer(t, 500, 500, 500, 500, 500, 500, 500, 500)
		tr := &connectors.Transport{Connector: "test", Base: srv.Client().Transport,
			NewBackOff: func() backoff.BackOff { return backoff.WithMaxRetries(&backoff.ZeroBackOff{}, 3) }}
		recordSleeps(tr)
		resp, err := post(t, tr.Client(), t.Context(), srv.URL)
		if err != nil || resp.StatusCode != 500 || srv.requests() != 4 {
			t.Fatalf("resp = %v, %v after %d requests; want the 500 after 4", resp, err, srv.requests())
		}
	})
	t.Run("NeverPastDeadline", func(t *testing.T) {
		srv := newAPIServer(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
		tr := &connectors.Transport{Connector: "test", Base: srv.Client().Transport} // real backoff
		ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
		defer cancel()
		resp, err := post(t, tr.Client(), ctx, srv.URL)
		if err != nil || resp.StatusCode != 500 {
			t.Fatalf("resp = %v, %v; want the last 500 before the deadline", resp, err)
		}
		if ctx.Err() != nil {
			t.Fatal("returned after the deadline")
		}
	})
	t.Run("NoReplayNoRetry", func(t *testing.T) {
		srv := newAPIServer(t, 503)
		tr := &connectors.Transport{Connector: "test", Base: srv.Client().Transport}
		recordSleeps(tr)
		req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(strings.NewReader("x"))) // no GetBody
		resp, err := tr.Client().Do(req)
		if err != nil || resp.StatusCode != 503 || srv.requests() != 1 {
			t.Fatalf("resp = %v, %v after %d requests; want one 503", resp, err, srv.requests())
		}
		resp.Body.Close()
	})
	t.Run("RetryAfter", func(t *testing.T) {
		srv := newAPIServer(t, 429)
		srv.header.Set("Retry-After", "2")
		tr := &connectors.Transport{Connector: "test", Base: srv.Client().Transport}
		waits := recordSleeps(tr)
		resp, err := post(t, tr.Client(), t.Context(), srv.URL)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("resp = %v, %v; want 200 after waiting", resp, err)
		}
		if diff := cmp.Diff([]time.Duration{2 * time.Second}, *waits); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
	})
	t.Run("RetryAfterPastDeadline", func(t *testing.T) {
		srv := newAPIServer(t, 429)
		srv.header.Set("Retry-After", "30")
		tr := &connectors.Transport{Connector: "test", Base: srv.Client().Transport}
		waits := recordSleeps(tr)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		resp, err := post(t, tr.Client(), ctx, srv.URL)
		if err != nil || resp.StatusCode != 429 || len(*waits) != 0 {
			t.Fatalf("resp = %v, %v, waits %v; want the 429 handed back at once", resp, err, *waits)
		}
		if got := connectors.RetryAfter(resp); got != 30*time.Second {
			t.Errorf("RetryAfter = %s, want 30s", got)
		}
	})
	t.Run("Unauthorized", func(t *testing.T) { // 401 → one renewal, one retry
		for _, tc := range []struct {
			name       string
			script     []int
			wantStatus int
		}{{"RenewOnce", []int{401}, 200}, {"StillUnauthorized", []int{401, 401, 401}, 401}} {
			t.Run(tc.name, func(t *testing.T) {
				ts := newTokenServer(t)
				first := ts.issue(time.Now().Add(time.Hour))
				store, acc := mustAccount(t, first)
				srv := newAPIServer(t, tc.script...)
				tr := &connectors.Transport{Connector: "test", AccountID: acc.ID, Base: srv.Client().Transport,
					Tokens: newSource(ts, store, testenv.Redis(t), acc.ID)}
				recordSleeps(tr)
				resp, err := post(t, tr.Client(), t.Context(), srv.URL)
				if err != nil || resp.StatusCode != tc.wantStatus {
					t.Fatalf("resp = %v, %v; want %d", resp, err, tc.wantStatus)
				}
				refreshes, _ := ts.counts()
				if refreshes != 1 || len(srv.auths) != 2 || srv.auths[0] != "Bearer "+first.AccessToken || srv.auths[1] == srv.auths[0] {
					t.Fatalf("refreshes = %d, auths = %v; want 1 refresh and a retry with the new token", refreshes, srv.auths)
				}
			})
		}
	})
	t.Run("RelinkNeeded", func(t *testing.T) {
		ts := newTokenServer(t)
		store, acc := mustAccount(t, ts.issue(time.Now().Add(time.Hour)))
		srv := newAPIServer(t, 401)
		src := newSource(ts, store, testenv.Redis(t), acc.ID)
		tok, _ := src.Token(t.Context())
		ts.mu.Lock()
		ts.live[tok.RefreshToken] = false // revoked at the CRM
		ts.mu.Unlock()
		tr := &connectors.Transport{Connector: "test", AccountID: acc.ID, Base: srv.Client().Transport, Tokens: src}
		_, err := post(t, tr.Client(), t.Context(), srv.URL)
		if !errors.Is(err, connectors.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		if a, _ := store.FindAccount(t.Context(), acc.ID); a.Status != connectors.StatusNeedsRelink {
			t.Fatalf("status = %s, want needs_relink", a.Status)
		}
	})
	t.Run("Observer", func(t *testing.T) {
		srv := newAPIServer(t, 502)
		var mu sync.Mutex
		var statuses []int
		tr := &connectors.Transport{Connector: "test", Base: srv.Client().Transport,
			Observer: connectors.Observer{Call: func(connector string, status int, _ time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				statuses = append(statuses, status)
			}}}
		recordSleeps(tr)
		if _, err := post(t, tr.Client(), t.Context(), srv.URL); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int{502, 200}, statuses); diff != "" {
			t.Errorf("observed (-want +got):\n%s", diff)
		}
	})
}

func TestTransport_NetworkError(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first { // drop the connection without an answer
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	tr := &connectors.Transport{Connector: "test", Base: srv.Client().Transport}
	recordSleeps(tr)
	resp, err := post(t, tr.Client(), t.Context(), srv.URL)
	mu.Lock()
	defer mu.Unlock()
	if err != nil || resp.StatusCode != 200 || n != 2 {
		t.Fatalf("resp = %v, %v after %d requests; want 200 after a retry", resp, err, n)
	}
}
