package pipedrive

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// stubTransport answers every request with the rate-limit headers next
// holds, and counts what it was sent.
type stubTransport struct {
	sent   int
	header http.Header
}

func (s *stubTransport) RoundTrip(*http.Request) (*http.Response, error) {
	s.sent++
	return &http.Response{StatusCode: http.StatusOK, Header: s.header.Clone(), Body: http.NoBody}, nil
}

func rateHeader(limit, remaining, reset int) http.Header {
	return http.Header{
		"X-Ratelimit-Limit":     {strconv.Itoa(limit)},
		"X-Ratelimit-Remaining": {strconv.Itoa(remaining)},
		"X-Ratelimit-Reset":     {strconv.Itoa(reset)},
	}
}

// newTestPacer returns a pacer over a stub, on a clock that only sleeps
// move, with the waits it slept.
func newTestPacer() (*pacer, *stubTransport, *[]time.Duration) {
	stub := &stubTransport{header: http.Header{}}
	p := newPacer(stub)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var slept []time.Duration
	p.now = func() time.Time { return now }
	p.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	return p, stub, &slept
}

func send(t *testing.T, p *pacer, ctx context.Context, method string) error {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, "https://acme.pipedrive.com/v1/users", nil)
	resp, err := p.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestPacer(t *testing.T) {
	t.Run("WaitsForTheWindow", func(t *testing.T) {
		p, stub, slept := newTestPacer()
		stub.header = rateHeader(40, 1, 2)
		for i := range 2 { // the first learns the window, the second takes its last request
			if err := send(t, p, context.Background(), "GET"); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		stub.header = rateHeader(40, 0, 2)
		if err := send(t, p, context.Background(), "GET"); err != nil {
			t.Fatal(err)
		}
		if len(*slept) != 1 || (*slept)[0] != 2*time.Second || stub.sent != 3 {
			t.Fatalf("slept %v, sent %d; want one 2s wait before the third request", *slept, stub.sent)
		}
	})
	t.Run("RateLimitError", func(t *testing.T) { // the wait does not fit the deadline: nothing is sent
		p, stub, slept := newTestPacer()
		stub.header = rateHeader(40, 0, 2)
		if err := send(t, p, context.Background(), "GET"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		err := send(t, p, ctx, "GET")
		rl, ok := errors.AsType[*connectors.RateLimitError](err)
		if !ok || rl.RetryAfter != 2*time.Second || stub.sent != 1 || len(*slept) != 0 {
			t.Fatalf("err = %v after %d sends and waits %v; want RateLimitError(2s), 1 send, no wait", err, stub.sent, *slept)
		}
	})
	t.Run("NextWindowAssumedAlike", func(t *testing.T) {
		p, stub, slept := newTestPacer()
		stub.header = rateHeader(2, 1, 2)
		if err := send(t, p, context.Background(), "GET"); err != nil {
			t.Fatal(err)
		}
		stub.header = http.Header{} // answers stop telling
		for range 4 {
			if err := send(t, p, context.Background(), "GET"); err != nil {
				t.Fatal(err)
			}
		}
		// 1 left, then windows of 2 requests each 2 s long.
		want := []time.Duration{2 * time.Second, 2 * time.Second}
		if len(*slept) != len(want) || (*slept)[0] != want[0] || (*slept)[1] != want[1] {
			t.Fatalf("slept %v, want %v", *slept, want)
		}
	})
	t.Run("DailyWritesSpent", func(t *testing.T) {
		p, stub, _ := newTestPacer()
		stub.header = http.Header{"X-Daily-Requests-Left": {"0"}}
		if err := send(t, p, context.Background(), "POST"); err != nil {
			t.Fatal(err)
		}
		err := send(t, p, context.Background(), "POST")
		if rl, ok := errors.AsType[*connectors.RateLimitError](err); !ok || rl.RetryAfter != 14*time.Hour {
			t.Fatalf("POST after the day's writes: err = %v, want RateLimitError until midnight UTC (14h)", err)
		}
		if err := send(t, p, context.Background(), "GET"); err != nil || stub.sent != 2 {
			t.Fatalf("GET: %v (sent %d); reads are not counted", err, stub.sent)
		}
	})
}
