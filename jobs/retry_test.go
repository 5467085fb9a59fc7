package jobs

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

func TestClassify(t *testing.T) {
	rl := &connectors.RateLimitError{RetryAfter: 3 * time.Second}
	for _, tt := range []struct {
		name      string
		err       error
		skip      bool // wrapped with SkipRetry
		isFailure bool
		delay     time.Duration // 0: asynq's default backoff
	}{
		{"Nil", nil, false, true, 0},
		{"Transient", errors.New("connection reset"), false, true, 0},
		{"Deadline", fmt.Errorf("list users: %w", context.DeadlineExceeded), false, true, 0},
		{"RateLimited", fmt.Errorf("amocrm: %w", rl), false, false, 3 * time.Second},
		{"RateLimitedNoRetryAfter", &connectors.RateLimitError{}, false, false, time.Second},
		{"Busy", fmt.Errorf("sync: %w", ErrBusy), false, false, BusyDelay},
		{"Unauthorized", fmt.Errorf("amocrm: %w", connectors.ErrUnauthorized), true, true, 0},
		{"Invalid", fmt.Errorf("status 400: %w", connectors.ErrInvalid), true, true, 0},
		{"AccountGone", fmt.Errorf("account 9: %w", connectors.ErrNotFound), true, true, 0},
		{"StoreNotFound", telephony.Errorf(telephony.ENotFound, "", "CRM account 9 not found"), true, true, 0},
		{"AlreadySkip", fmt.Errorf("bad payload: %w", asynq.SkipRetry), true, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			if tt.err == nil {
				if got != nil {
					t.Fatalf("classify(nil) = %v", got)
				}
				return
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("classify lost the cause: %v", got)
			}
			if errors.Is(got, asynq.SkipRetry) != tt.skip {
				t.Errorf("SkipRetry = %v, want %v (%v)", !tt.skip, tt.skip, got)
			}
			if IsFailure(got) != tt.isFailure {
				t.Errorf("IsFailure = %v, want %v", !tt.isFailure, tt.isFailure)
			}
			d := RetryDelay(2, got, asynq.NewTask(TypeSyncUsers, nil))
			if tt.delay != 0 && d != tt.delay {
				t.Errorf("RetryDelay = %s, want %s", d, tt.delay)
			}
			if tt.delay == 0 && (d < 15*time.Second || d > 2*time.Minute) {
				t.Errorf("RetryDelay = %s, want asynq's default backoff for retry 2", d)
			}
		})
	}
}
