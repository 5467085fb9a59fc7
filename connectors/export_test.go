package connectors

import (
	"context"
	"time"
)

// SetSleep replaces t's retry waits, so tests need no clock.
func SetSleep(t *Transport, f func(context.Context, time.Duration) error) { t.sleep = f }
