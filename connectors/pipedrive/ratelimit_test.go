package pipedrive_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/pipedrive/pipedrivetest"
)

// window is the fake's burst window in these tests: short, so waiting for
// it keeps the tests quick (its x-ratelimit-reset still says 1 s).
func window(limit int) func(*pipedrivetest.Handler) {
	return func(h *pipedrivetest.Handler) { h.RateLimit, h.RateWindow = limit, time.Second }
}

// TestClient_RateLimitHeaders: once the headers say the window is spent,
// the client does not send: it returns a RateLimitError when the wait does
// not fit the deadline, and waits for the reset when it does. Pipedrive
// never has to answer 429.
func TestClient_RateLimitHeaders(t *testing.T) {
	f := mustFake(t, connectortest.NewBackend(), window(3))
	for i := range 3 {
		if _, err := f.client.ListUsers(ctx(t)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	short, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
	defer cancel()
	_, err := f.client.ListUsers(short)
	if rl, ok := errors.AsType[*connectors.RateLimitError](err); !ok || rl.RetryAfter <= 300*time.Millisecond || rl.RetryAfter > time.Second {
		t.Fatalf("with remaining 0: err = %v, want a RateLimitError until the reset (≤ 1s)", err)
	}
	if n := f.b.Requests(""); n != 3 {
		t.Fatalf("%d requests reached the fake, want 3: the fourth must not be sent", n)
	}
	start := time.Now()
	if _, err := f.client.ListUsers(ctx(t)); err != nil {
		t.Fatalf("after waiting: %v", err)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Errorf("sent after %s: the client did not wait for the window", el)
	}
	if n := f.h.RateLimited(); n != 0 {
		t.Errorf("%d requests answered 429, want 0", n)
	}
}

// TestClient_RateLimitConcurrent: concurrent callers share the window.
func TestClient_RateLimitConcurrent(t *testing.T) {
	f := mustFake(t, connectortest.NewBackend(), window(10))
	if _, err := f.client.ListUsers(ctx(t)); err != nil { // learn the window
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := f.client.ListUsers(ctx(t))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("ListUsers: %v", err)
		}
	}
	if n := f.h.RateLimited(); n != 0 {
		t.Errorf("%d requests answered 429, want 0", n)
	}
}

// TestClient_RateLimited429: another process on the same token spent the
// window, which this client has not seen: Pipedrive answers 429 with
// Retry-After, the client reports it, and paces itself from then on.
func TestClient_RateLimited429(t *testing.T) {
	f := mustFake(t, connectortest.NewBackend(), window(1))
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/users", nil)
	req.Header.Set("Authorization", "Bearer "+f.h.AccessToken)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, err = f.client.ListUsers(ctx(t))
	if rl, ok := errors.AsType[*connectors.RateLimitError](err); !ok || rl.RetryAfter != time.Second {
		t.Fatalf("err = %v, want RateLimitError with the 429's Retry-After (1s)", err)
	}
	if n := f.h.RateLimited(); n != 1 {
		t.Fatalf("%d requests answered 429, want 1", n)
	}
	short, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
	defer cancel()
	_, err = f.client.ListUsers(short)
	if !errors.As(err, new(*connectors.RateLimitError)) || f.h.RateLimited() != 1 || f.b.Requests("") != 1 {
		t.Fatalf("after the 429: err = %v, %d more 429s, %d served; want a RateLimitError without sending",
			err, f.h.RateLimited()-1, f.b.Requests(""))
	}
}
