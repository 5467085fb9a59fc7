package pipedrive

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// Pipedrive's rate-limit headers (API-NOTES §4.6): the window's size, what
// is left of it, and the seconds until it resets; x-daily-requests-left
// counts the day's POST/PUT requests (api_token requests only).
const (
	headerLimit     = "x-ratelimit-limit"
	headerRemaining = "x-ratelimit-remaining"
	headerReset     = "x-ratelimit-reset"
	headerDailyLeft = "x-daily-requests-left"
)

// maxPaceWait is the longest the pacer waits for a window to reset; a
// longer wait (a spent daily budget) is returned as a RateLimitError at
// once, for the job queue to retry later.
const maxPaceWait = 5 * time.Second

// pacer is a RoundTripper that holds requests back once the answers'
// rate-limit headers say the window is spent, so the Client slows down
// before Pipedrive answers 429. Within a window it counts its own requests
// down from what the answers report (taking the lower of the two, since
// answers lag behind requests in flight), so concurrent callers do not all
// pass on the last remaining request; when a window ends it assumes the
// next one has the last reported size until an answer says otherwise. The
// first requests, before any answer, pass unpaced (the shared limiter in
// Info.Limits spaces them). Other processes share the token's window and
// pace themselves the same way; what still arrives too fast gets a 429,
// which the transport and checkStatus handle.
type pacer struct {
	next http.RoundTripper

	// now and sleep are the clock; tests replace them.
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu        sync.Mutex
	known     bool          // an answer has told the window
	limit     int           // the window's size (x-ratelimit-limit), 0 if unknown
	window    time.Duration // the window's length: the longest reset seen
	remaining int           // requests left in the window
	resetAt   time.Time     // when the window ends
	dailyOut  time.Time     // POST/PUT blocked until then (x-daily-requests-left: 0)
}

func newPacer(next http.RoundTripper) *pacer {
	if next == nil {
		next = http.DefaultTransport
	}
	return &pacer{next: next, now: time.Now, sleep: sleepCtx}
}

// RoundTrip implements http.RoundTripper.
func (p *pacer) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for {
		wait := p.reserve(req.Method)
		if wait <= 0 {
			break
		}
		if wait > maxPaceWait || !fits(ctx, wait) {
			return nil, &connectors.RateLimitError{RetryAfter: wait}
		}
		if err := p.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	resp, err := p.next.RoundTrip(req)
	if resp != nil {
		p.observe(resp.Header)
	}
	return resp, err
}

// reserve takes one request from the window and returns 0, or returns how
// long to wait before asking again.
func (p *pacer) reserve(method string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if write(method) && now.Before(p.dailyOut) {
		return p.dailyOut.Sub(now)
	}
	if !p.known {
		return 0
	}
	if !now.Before(p.resetAt) { // the window ended: assume the next is alike
		if p.limit <= 0 {
			p.known = false
			return 0
		}
		p.remaining, p.resetAt = p.limit, now.Add(p.window)
	}
	if p.remaining > 0 {
		p.remaining--
		return 0
	}
	return p.resetAt.Sub(now)
}

// observe reads an answer's headers.
func (p *pacer) observe(h http.Header) {
	remaining, err1 := strconv.Atoi(strings.TrimSpace(h.Get(headerRemaining)))
	reset, err2 := strconv.Atoi(strings.TrimSpace(h.Get(headerReset)))
	limit, _ := strconv.Atoi(strings.TrimSpace(h.Get(headerLimit)))
	daily, err3 := strconv.Atoi(strings.TrimSpace(h.Get(headerDailyLeft)))
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if err3 == nil && daily <= 0 {
		y, m, d := now.UTC().Date() // the daily count restarts at 00:00 UTC
		p.dailyOut = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	}
	if err1 != nil || err2 != nil {
		return
	}
	remaining = max(remaining, 0)
	// The header is whole seconds, rounded; "0" with nothing left still
	// means "wait for the window".
	until := time.Duration(max(reset, 1)) * time.Second
	if p.known && now.Before(p.resetAt) {
		p.remaining = min(p.remaining, remaining)
	} else {
		p.remaining = remaining
	}
	p.known, p.limit = true, limit
	p.window = max(p.window, until)
	if end := now.Add(until); end.After(p.resetAt) {
		p.resetAt = end
	}
}

func write(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// fits reports whether waiting d leaves ctx time to spare.
func fits(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
