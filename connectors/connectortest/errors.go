package connectortest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// slowMargin is how long past its context deadline a call may take to fail.
const slowMargin = 2 * time.Second

func (s *suite) errorKinds(t *testing.T) {
	ops := map[string]func(context.Context, connectors.Connector) error{
		"ListUsers": func(ctx context.Context, c connectors.Connector) error {
			_, err := c.ListUsers(ctx)
			return err
		},
		"FindByPhone": func(ctx context.Context, c connectors.Connector) error {
			_, err := c.FindByPhone(ctx, s.supported()[0], Phone)
			return err
		},
		"LogCall": func(ctx context.Context, c connectors.Connector) error {
			_, err := c.LogCall(ctx, s.testCall("err"))
			return err
		},
	}
	cases := []struct {
		name  string
		fault Fault
		check func(t *testing.T, err error)
	}{
		{"ErrUnauthorized", Fault{Status: http.StatusUnauthorized}, func(t *testing.T, err error) {
			if !errors.Is(err, connectors.ErrUnauthorized) {
				t.Errorf("err = %v, want ErrUnauthorized", err)
			}
		}},
		{"RateLimitError", Fault{Status: http.StatusTooManyRequests, RetryAfter: 7 * time.Second}, func(t *testing.T, err error) {
			var rl *connectors.RateLimitError
			if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
				t.Errorf("err = %v, want *RateLimitError with RetryAfter 7s", err)
			}
		}},
		{"Transient", Fault{Status: http.StatusInternalServerError}, func(t *testing.T, err error) {
			if err == nil || errors.Is(err, connectors.ErrInvalid) || errors.Is(err, connectors.ErrUnauthorized) {
				t.Errorf("err = %v, want a transient error (not ErrInvalid or ErrUnauthorized)", err)
			}
		}},
		{"ErrInvalid", Fault{Status: http.StatusBadRequest}, func(t *testing.T, err error) {
			if !errors.Is(err, connectors.ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		}},
		{"Malformed", Fault{Malformed: true}, func(t *testing.T, err error) {
			if err == nil {
				t.Error("malformed JSON: err = nil")
			}
		}},
	}
	for opName, op := range ops {
		for _, tc := range cases {
			t.Run(opName+"/"+tc.name, func(t *testing.T) {
				b, c := s.setup(t)
				b.Inject(tc.fault)
				tc.check(t, op(ctxFor(t), c))
			})
		}
		t.Run(opName+"/Deadline", func(t *testing.T) {
			b, c := s.setup(t)
			b.Inject(Fault{Delay: time.Minute})
			const deadline = 100 * time.Millisecond
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			start := time.Now()
			err := op(ctx, c)
			if el := time.Since(start); el > deadline+slowMargin {
				t.Errorf("returned after %s, want within %s of the deadline", el, slowMargin)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
		})
	}
}
