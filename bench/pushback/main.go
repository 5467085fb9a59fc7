// Command pushback benchmarks call push-back (issue 7) on PostgreSQL and
// Redis, through the production store, handlers, resolver and transport:
//
//	CRMSYNC_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	CRMSYNC_TEST_REDIS_URL='redis://127.0.0.1:6379/0' go run ./bench/pushback
//
// Drain: -events call events for one amoCRM account (10,000 calls with one
// call.finished event each, or -per-call 5 for the full five-event calls:
// started, answered, finished, tagged, commented), already routed (a
// routing decision names each call's contact), are stored through the
// intake path and queued, and a worker (asynq server with WithCalls, the
// Redis rate limiter) writes them to the amoCRM fake, which answers 429
// to any request beyond 7 in a second. It reports the time until every
// event is delivered against the floor events ÷ (7 req/s × 50 per batch),
// and checks that the CRM holds exactly one record per call, written once
// per delivering write (0 lost, 0 duplicated) and that none of our
// requests was answered 429. The one-event scenario has nothing to merge,
// so every event costs a batch slot: the honest test of batching.
//
// Intake: -clients concurrent clients post signed events (one per request,
// or -batch N per request) to POST /api/v1/events for -seconds; it reports
// accepted events per second.
//
// Each run works in a PostgreSQL schema of its own (dropped at the end)
// and Redis database 13 (flushed). It exits 1 when a check fails or a
// target is missed (drain within 1.2× the floor, intake ≥ 2,000 events/s).
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime/pprof"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	_ "github.com/crmsync/crmsync/connectors/amocrm"
	"github.com/crmsync/crmsync/store"
)

// verbose prints progress to stderr.
var verbose bool

// Targets.
const (
	drainTarget  = 1.2  // × the floor
	intakeTarget = 2000 // events/s
)

func main() {
	mode := flag.String("mode", "both", "drain, intake or both")
	events := flag.Int("events", 10000, "drain: call events")
	perCall := flag.Int("per-call", 1, "drain: events per call, 1 (call.finished) or 5 (the whole call)")
	workers := flag.Int("concurrency", 10, "drain: asynq worker concurrency")
	clients := flag.Int("clients", 32, "intake: concurrent clients")
	batch := flag.Int("batch", 1, "intake: events per request")
	seconds := flag.Int("seconds", 10, "intake: how long to post")
	dsn := flag.String("postgres", os.Getenv("CRMSYNC_TEST_POSTGRES_URL"), "PostgreSQL URL (default $CRMSYNC_TEST_POSTGRES_URL)")
	redisURL := flag.String("redis", os.Getenv("CRMSYNC_TEST_REDIS_URL"), "Redis URL (default $CRMSYNC_TEST_REDIS_URL); database 13 is used")
	flag.BoolVar(&verbose, "v", false, "print progress")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pushback:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "pushback:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if *dsn == "" || *redisURL == "" {
		fmt.Fprintln(os.Stderr, "pushback: set CRMSYNC_TEST_POSTGRES_URL and CRMSYNC_TEST_REDIS_URL (or -postgres, -redis)")
		os.Exit(2)
	}
	ok := true
	if *mode == "drain" || *mode == "both" {
		r, err := runDrain(*dsn, *redisURL, *events, *perCall, *workers)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pushback: drain:", err)
			os.Exit(1)
		}
		ok = r.report(os.Stdout) && ok
	}
	if *mode == "intake" || *mode == "both" {
		r, err := runIntake(*dsn, *redisURL, *clients, *batch, *seconds)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pushback: intake:", err)
			os.Exit(1)
		}
		ok = r.report(os.Stdout) && ok
	}
	if !ok {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func sealer() *store.Sealer {
	s, err := store.NewSealer("bench secret key, not for production use")
	if err != nil {
		panic(err)
	}
	return s
}

// openStore opens a migrated store in a schema of its own; close drops it.
func openStore(ctx context.Context, dsn string) (*store.DB, func(), error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "bench_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return nil, nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() {
		admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") //nolint:errcheck
		admin.Close()
	}
	u, err := url.Parse(dsn)
	if err != nil {
		drop()
		return nil, nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := store.Open(ctx, store.Options{URL: u.String(), Sealer: sealer(), Migrate: true})
	if err != nil {
		drop()
		return nil, nil, err
	}
	return db, func() { db.Close(); drop() }, nil
}

// redisDB13 returns the URL of database 13 of the Redis at raw, flushed.
func redisDB13(ctx context.Context, raw string) (string, *redis.Client, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/13"
	opts, err := redis.ParseURL(u.String())
	if err != nil {
		return "", nil, err
	}
	c := redis.NewClient(opts)
	if err := c.FlushDB(ctx).Err(); err != nil {
		c.Close()
		return "", nil, fmt.Errorf("flush redis: %w", err)
	}
	return u.String(), c, nil
}
