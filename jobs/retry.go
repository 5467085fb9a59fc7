package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// ErrBusy reports that another sync of the same account is running. The
// task is retried after BusyDelay without counting as a failure.
var ErrBusy = errors.New("another sync of this account is running")

// BusyDelay is how long a task that met ErrBusy waits before trying again.
const BusyDelay = 15 * time.Second

// minRateLimitDelay is the shortest wait after a rate limit: asynq
// schedules in whole seconds.
const minRateLimitDelay = time.Second

// classify wraps permanent failures with asynq.SkipRetry so they are
// archived at once instead of burning retries: a revoked token, a request
// the CRM rejects, an account or record that does not exist, a bad
// payload. Rate limits, ErrBusy and everything else pass through.
func classify(err error) error {
	switch {
	case err == nil, errors.Is(err, asynq.SkipRetry), errors.Is(err, ErrBusy):
		return err
	case errors.As(err, new(*connectors.RateLimitError)):
		return err
	case errors.Is(err, connectors.ErrUnauthorized), errors.Is(err, connectors.ErrInvalid),
		errors.Is(err, connectors.ErrNotFound), errors.Is(err, connectors.ErrUnsupported):
		return fmt.Errorf("%w (%w)", err, asynq.SkipRetry)
	}
	switch telephony.ErrorCode(err) {
	case telephony.ENotFound, telephony.EInvalid:
		return fmt.Errorf("%w (%w)", err, asynq.SkipRetry)
	}
	return err
}

// RetryDelay is the server's Config.RetryDelayFunc: a CRM's Retry-After
// for rate limits, BusyDelay for a busy account, asynq's exponential
// backoff otherwise.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var rl *connectors.RateLimitError
	switch {
	case errors.As(err, &rl):
		return max(rl.RetryAfter, minRateLimitDelay)
	case errors.Is(err, ErrBusy):
		return BusyDelay
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// IsFailure is the server's Config.IsFailure: being throttled or finding
// the account busy is not a failure, so it neither counts against
// MaxRetry nor shows as failed.
func IsFailure(err error) bool {
	return !errors.As(err, new(*connectors.RateLimitError)) && !errors.Is(err, ErrBusy)
}
