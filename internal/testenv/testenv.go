// Package testenv gives tests the real services they run against: the test
// PostgreSQL and Redis named by CRMSYNC_TEST_POSTGRES_URL and
// CRMSYNC_TEST_REDIS_URL, or the embedded stand-ins when those are unset.
//
// With CI=true a missing service fails the test instead of skipping it, so
// CI never quietly tests less.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/redis/go-redis/v9"
)

// Env variable names.
const (
	PostgresVar = "CRMSYNC_TEST_POSTGRES_URL"
	RedisVar    = "CRMSYNC_TEST_REDIS_URL"
)

// CI reports whether tests run in CI, where nothing may skip.
func CI() bool { return os.Getenv("CI") == "true" }

// SkipUnless skips tb with a message naming the variable unless it is set;
// in CI a missing variable fails the test instead.
func SkipUnless(tb testing.TB, envVar string) string {
	tb.Helper()
	v := os.Getenv(envVar)
	if v == "" {
		if CI() {
			tb.Fatalf("%s must be set in CI", envVar)
		}
		tb.Skipf("set %s to run this test against the real service", envVar)
	}
	return v
}

// RandomName returns prefix plus 12 random hex digits: a schema, key prefix
// or queue name no other test uses.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// RedisURL returns the URL of a Redis for this test: a database of the real
// test Redis that this test process holds alone (flushed first; tests that
// use it must not run in parallel) when CRMSYNC_TEST_REDIS_URL is set, else
// a fresh miniredis with ClockTTL, the same stand-in the embedded mode uses.
// In CI the real one is required.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	if raw := os.Getenv(RedisVar); raw != "" {
		u, err := url.Parse(raw)
		if err != nil {
			tb.Fatalf("%s: %v", RedisVar, err)
		}
		db, err := claimRedisDB(u)
		if err != nil {
			tb.Fatalf("test redis: %v", err)
		}
		u.Path = "/" + strconv.Itoa(db)
		opts, err := redis.ParseURL(u.String())
		if err != nil {
			tb.Fatalf("%s: %v", RedisVar, err)
		}
		c := redis.NewClient(opts)
		defer c.Close()
		if err := c.FlushDB(context.Background()).Err(); err != nil {
			tb.Fatalf("flush test redis: %v", err)
		}
		return u.String()
	}
	if CI() {
		tb.Fatalf("%s must be set in CI", RedisVar)
	}
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true) // TTLs run on the wall clock, as in real Redis
	if err := m.Start(); err != nil {
		tb.Fatalf("miniredis: %v", err)
	}
	tb.Cleanup(m.Close)
	return "redis://" + m.Addr() + "/0"
}

var (
	redisDBOnce sync.Once
	redisDB     int
	redisDBErr  error
)

// claimRedisDB gives this test process a Redis database of its own, 1–15,
// for its whole life. go test runs packages in parallel, and asynq's keys
// have no prefix, so two packages flushing one shared database would wipe
// each other's queues mid-test. The claim is a key in database 0 holding
// our pid; a claim whose process is gone is taken over.
func claimRedisDB(base *url.URL) (int, error) {
	redisDBOnce.Do(func() {
		u := *base
		u.Path = "/0"
		opts, err := redis.ParseURL(u.String())
		if err != nil {
			redisDBErr = err
			return
		}
		c := redis.NewClient(opts)
		defer c.Close()
		ctx := context.Background()
		pid := os.Getpid()
		for attempt := 0; attempt < 600; attempt++ {
			for db := 1; db <= 15; db++ {
				key := "crmsync:testenv:db:" + strconv.Itoa(db)
				ok, err := c.SetNX(ctx, key, pid, 2*time.Hour).Result()
				if err != nil {
					redisDBErr = err
					return
				}
				if !ok {
					holder, _ := c.Get(ctx, key).Int()
					if holder == 0 || processAlive(holder) {
						continue
					}
					// The holder died without releasing: take it over, unless
					// another process just did.
					if prev, err := c.GetSet(ctx, key, pid).Int(); err != nil || prev != holder {
						continue
					}
				}
				redisDB = db
				return
			}
			time.Sleep(100 * time.Millisecond) // every database is held by a live test process
		}
		redisDBErr = errors.New("no free test database in 60 s: 15 test processes hold them all")
	})
	return redisDB, redisDBErr
}

// processAlive reports whether a process with pid exists.
func processAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// Redis returns a client for RedisURL(tb), closed when the test ends.
func Redis(tb testing.TB) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(RedisURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { c.Close() })
	return c
}

// RealRedis is Redis, but only the real server will do (for tests of
// behaviour miniredis does not model); it skips, or fails in CI, without it.
func RealRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	SkipUnless(tb, RedisVar)
	return Redis(tb)
}

// PostgresDSN creates a fresh schema in the test PostgreSQL and returns a
// DSN whose search_path is that schema, so tests can run in parallel and
// never touch public. The schema is dropped when the test ends. It skips
// (fails in CI) when CRMSYNC_TEST_POSTGRES_URL is unset.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	base := SkipUnless(tb, PostgresVar)
	schema := RandomName("t_")
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open test postgres: %v", err)
	}
	defer admin.Close()
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") //nolint:errcheck
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", PostgresVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// HasPostgres reports whether the test PostgreSQL is configured.
func HasPostgres() bool { return os.Getenv(PostgresVar) != "" }
