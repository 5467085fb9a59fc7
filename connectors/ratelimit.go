package connectors

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// ratePercent stretches every limit's period to 115%: the vendor counts
// requests when they arrive, not when we were allowed to send them, and the
// margin absorbs that jitter (at 7/s, up to ~150 ms between two requests).
// 10% proved too little on a loaded 2-core machine under the race detector
// (8 arrivals in one second); going over costs more than 15% of throughput,
// because amo blocks abusive clients (403).
const ratePercent = 115

// RateLimiter holds requests back to the vendors' documented per-account
// rates, shared by every process through Redis (a GCRA limiter from
// go-redis/redis_rate with burst 1: its default burst, equal to the rate,
// lets nearly twice the rate through in the first second).
type RateLimiter struct {
	limiter *redis_rate.Limiter
}

// NewRateLimiter returns a RateLimiter keeping its state in rdb.
func NewRateLimiter(rdb redis.UniversalClient) *RateLimiter {
	return &RateLimiter{limiter: redis_rate.NewLimiter(rdb)}
}

// RateLimitKey is the Redis key (after redis_rate's "rate:" prefix) of one
// limit of one account.
func RateLimitKey(connector string, accountID int64, limit string) string {
	return "crmsync:" + connector + ":" + strconv.FormatInt(accountID, 10) + ":" + limit
}

// Wait blocks until one request may be sent under lim, and returns how
// long it waited. When the wait would outlast ctx's deadline it returns a
// *RateLimitError at once, so a caller with a short deadline (a call being
// routed) falls back instead of waiting in vain.
func (l *RateLimiter) Wait(ctx context.Context, key string, lim Limit) (time.Duration, error) {
	if lim.Rate <= 0 || lim.Per <= 0 {
		return 0, nil
	}
	gcra := redis_rate.Limit{Rate: lim.Rate, Burst: 1, Period: lim.Per * ratePercent / 100}
	var waited time.Duration
	for {
		res, err := l.limiter.Allow(ctx, key, gcra)
		if err != nil {
			return waited, fmt.Errorf("connectors: rate limit %s: %w", key, err)
		}
		if res.Allowed > 0 {
			return waited, nil
		}
		d := res.RetryAfter
		if !fits(ctx, d) {
			return waited, &RateLimitError{RetryAfter: d}
		}
		if err := sleep(ctx, d); err != nil {
			return waited, fmt.Errorf("connectors: rate limit %s: %w", key, err)
		}
		waited += d
	}
}

// fits reports whether waiting d leaves ctx time to spare.
func fits(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RetryAfter reads a response's Retry-After header, in seconds or as an
// HTTP date; it returns 0 when there is none.
func RetryAfter(resp *http.Response) time.Duration {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(secs)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
