package connectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"golang.org/x/oauth2"
)

// Transport defaults.
const (
	DefaultRequestTimeout = 30 * time.Second // when the caller's context has no deadline
	DefaultRetryBudget    = 5 * time.Second  // 5xx and network-error retries, all told
	maxThrottledRetries   = 3
	defaultRetryAfter     = time.Second // a 429 without Retry-After
)

// Observer receives a Transport's metrics events; nil funcs are skipped.
// cmd wires them to Prometheus.
type Observer struct {
	// Call follows every request sent to a CRM: its status (0 for a
	// network error) and how long it took.
	Call func(connector string, status int, d time.Duration)
	// RateLimitWait follows every request the client-side limiter held
	// back, with how long.
	RateLimitWait func(connector, limit string, d time.Duration)
}

// Transport is the http.RoundTripper behind Credentials.HTTPClient: the one
// HTTP behaviour every connector gets. Per request it
//   - waits for the account's client-side rate limits (Limits, shared
//     through Redis), bounded by the request's context;
//   - adds the account's access token;
//   - retries 5xx answers and network errors with exponential backoff,
//     within RetryBudget and never past the context's deadline;
//   - on 429 waits Retry-After and retries when that fits the deadline,
//     else hands the 429 to the connector (→ *RateLimitError);
//   - on 401 renews the token once and retries once.
//
// Requests are retried only when their body can be replayed (GetBody, as
// http.NewRequest sets for in-memory bodies). A Transport is safe for
// concurrent use; set its fields before the first request.
type Transport struct {
	Connector string
	AccountID int64
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Tokens authenticates requests; nil sends them as they are.
	Tokens *TokenSource
	// Limiter enforces Limits; nil means no client-side limit.
	Limiter *RateLimiter
	Limits  []Limit
	// RetryBudget bounds the time spent retrying 5xx and network errors;
	// 0 means DefaultRetryBudget, negative means no such retries.
	RetryBudget time.Duration
	// NewBackOff, when set, replaces the exponential backoff policy.
	NewBackOff func() backoff.BackOff
	Observer   Observer

	sleep func(context.Context, time.Duration) error // tests replace it
}

// Client returns an *http.Client over t with DefaultRequestTimeout as an
// outer bound. It follows redirects only within one host, since t adds the
// account's token to every request it sends.
func (t *Transport) Client() *http.Client {
	return &http.Client{
		Transport: t,
		Timeout:   DefaultRequestTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || req.URL.Host != via[0].URL.Host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	var (
		bo        backoff.BackOff
		renewed   bool
		throttled int
	)
	for attempt := 0; ; attempt++ {
		r, tok, err := t.prepare(req, attempt)
		if err != nil {
			return nil, err
		}
		if err := t.limit(ctx, r); err != nil {
			return nil, err
		}
		start := time.Now()
		resp, err := t.base().RoundTrip(r)
		t.observe(resp, time.Since(start))

		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil || !replayable {
				return nil, err
			}
			if wait, bo = t.next(ctx, bo); wait < 0 {
				return nil, err
			}
		case resp.StatusCode == http.StatusUnauthorized && t.Tokens != nil && !renewed && replayable:
			renewed = true
			drain(resp)
			if _, err := t.Tokens.Renew(ctx, tok.AccessToken); err != nil {
				return nil, err
			}
			continue
		case resp.StatusCode == http.StatusTooManyRequests && replayable && throttled < maxThrottledRetries:
			wait = RetryAfter(resp)
			if wait == 0 {
				wait = defaultRetryAfter
			}
			if !fits(ctx, wait) {
				return resp, nil
			}
			throttled++
		case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented && replayable:
			if wait, bo = t.next(ctx, bo); wait < 0 {
				return resp, nil
			}
		default:
			return resp, nil
		}
		if resp != nil {
			drain(resp)
		}
		if err := t.wait(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: retry wait: %w", t.Connector, err)
		}
	}
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// prepare clones req for one attempt: a fresh body and the current token.
func (t *Transport) prepare(req *http.Request, attempt int) (*http.Request, *oauth2.Token, error) {
	r := req.Clone(req.Context())
	if attempt > 0 && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: replay body: %w", t.Connector, err)
		}
		r.Body = body
	}
	if t.Tokens == nil {
		return r, &oauth2.Token{}, nil
	}
	tok, err := t.Tokens.Token(req.Context())
	if err != nil {
		return nil, nil, err
	}
	tok.SetAuthHeader(r)
	return r, tok, nil
}

// limit waits for every Limit that matches r.
func (t *Transport) limit(ctx context.Context, r *http.Request) error {
	if t.Limiter == nil {
		return nil
	}
	for _, lim := range t.Limits {
		if lim.Match != nil && !lim.Match(r) {
			continue
		}
		waited, err := t.Limiter.Wait(ctx, RateLimitKey(t.Connector, t.AccountID, lim.Name), lim)
		if waited > 0 && t.Observer.RateLimitWait != nil {
			t.Observer.RateLimitWait(t.Connector, lim.Name, waited)
		}
		if err != nil {
			if rl, ok := errors.AsType[*RateLimitError](err); ok {
				return fmt.Errorf("%s: client-side limit %s: %w", t.Connector, lim.Name, rl)
			}
			return err
		}
	}
	return nil
}

// next returns the next 5xx/network backoff, or -1 when the budget or the
// context's deadline is spent.
func (t *Transport) next(ctx context.Context, bo backoff.BackOff) (time.Duration, backoff.BackOff) {
	if t.RetryBudget < 0 {
		return -1, bo
	}
	if bo == nil {
		if t.NewBackOff != nil {
			bo = t.NewBackOff()
		} else {
			e := backoff.NewExponentialBackOff()
			e.InitialInterval = 200 * time.Millisecond
			e.MaxInterval = 2 * time.Second
			e.MaxElapsedTime = t.RetryBudget
			if e.MaxElapsedTime == 0 {
				e.MaxElapsedTime = DefaultRetryBudget
			}
			e.Reset()
			bo = e
		}
	}
	d := bo.NextBackOff()
	if d == backoff.Stop || !fits(ctx, d) {
		return -1, bo
	}
	return d, bo
}

func (t *Transport) wait(ctx context.Context, d time.Duration) error {
	if t.sleep != nil {
		return t.sleep(ctx, d)
	}
	return sleep(ctx, d)
}

func (t *Transport) observe(resp *http.Response, d time.Duration) {
	if t.Observer.Call == nil {
		return
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	t.Observer.Call(t.Connector, status, d)
}

// drain reads a little of an unwanted body so the connection is reused.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}
