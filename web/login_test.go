package web_test

import (
	"context"
	"testing"

	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/web"
)

// TestRedisLoginLimiter checks the limiter web processes share: limit
// attempts pass, the next waits, Reset clears the key, keys are separate.
func TestRedisLoginLimiter(t *testing.T) {
	ctx := context.Background()
	l := &web.RedisLoginLimiter{Redis: testenv.Redis(t)}
	for i := range 3 {
		if wait, err := l.Allow(ctx, "pair:127.0.0.1|olena", 3); err != nil || wait != 0 {
			t.Fatalf("attempt %d: wait %v, err %v", i+1, wait, err)
		}
	}
	wait, err := l.Allow(ctx, "pair:127.0.0.1|olena", 3)
	if err != nil || wait <= 0 || wait > web.LoginWindow {
		t.Fatalf("4th attempt: wait %v, err %v; want a wait within %v", wait, err, web.LoginWindow)
	}
	if wait, _ := l.Allow(ctx, "pair:127.0.0.1|petro", 3); wait != 0 {
		t.Errorf("another key waits %v", wait)
	}
	if err := l.Reset(ctx, "pair:127.0.0.1|olena"); err != nil {
		t.Fatal(err)
	}
	if wait, _ := l.Allow(ctx, "pair:127.0.0.1|olena", 3); wait != 0 {
		t.Errorf("after Reset: wait %v", wait)
	}
}
