package jobs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/all/alltest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
)

// The child worker's settings, passed in its environment.
const (
	childDBVar    = "CRMSYNC_CALLS_CHILD_DB"
	childRedisVar = "CRMSYNC_CALLS_CHILD_REDIS"
	childOAuthVar = "CRMSYNC_CALLS_CHILD_OAUTH" // the resolver's OAuth apps, as JSON
)

// TestCalls_WorkerKilled kills a real worker process with SIGKILL while
// every CRM holds its write of a call, then starts another: each call ends
// up in its CRM exactly once, written once. The writes never completed at
// the CRMs (they answer only after holding the request, and the dead
// worker's connections closed first), so the events stayed pending; the
// new worker's Sweeper finds them once the dead worker's lease lapses (3 s
// here) and writes them. The second write is the only effective one.
//
// A CRM without batch writes (Pipedrive) is written from inside the call's
// delivery task, which the dead worker left in asynq's active set: the
// Sweeper's re-enqueue under the same task id is a no-op until the new
// worker's asynq recovers that task (its lease, then the recoverer's
// one-minute round), so that CRM's call takes about a minute. The CRMs
// share one child worker process: see callsWorld.
func TestCalls_WorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes; skipped in -short mode")
	}
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "calls.db")
	if testenv.HasPostgres() || testenv.CI() {
		dbURL = testenv.PostgresDSN(t)
	}
	db, err := store.Open(context.Background(), store.Options{URL: dbURL, Sealer: storetest.Sealer(t), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := newCallsWorldOn(t, db, alltest.Names, nil)
	for _, env := range w.envs {
		env.route(t, "k1")
		env.backend.Inject(connectortest.Fault{Delay: 5 * time.Minute}) // the first CRM request hangs
	}

	first := startChild(t, dbURL, w)
	for _, env := range w.envs {
		env.mustPost(t, call("k1", customer, userBoris, env.emps))
	}
	for _, env := range w.envs {
		waitFor(t, 30*time.Second, env.name+": the worker's write to reach the CRM", func() bool {
			return env.crm.Writes() == 1
		})
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	for _, env := range w.envs {
		if recs := env.crmCalls(t)["k1"]; len(recs) != 0 {
			t.Fatalf("%s: the killed write was recorded: %+v", env.name, recs)
		}
		if cs := env.status(t, "k1"); cs.Status != jobs.EventPending {
			t.Fatalf("%s: after the kill: %+v, want pending", env.name, cs)
		}
	}

	start := time.Now()
	startChild(t, dbURL, w)
	w.each(t, func(t *testing.T, env *callsEnv) {
		env.waitDelivered(t, 100*time.Second, "k1")
		t.Logf("delivered %s after the second worker started", time.Since(start).Round(time.Millisecond))
		recs := env.crmCalls(t)["k1"]
		want := env.tagged("wants a quote", "Your client "+customer+" called and was answered by Borys Lysenko.")
		if len(recs) != 1 || recs[0].Writes != 1 || noteOf(recs[0].Call) != want {
			t.Fatalf("CRM records of k1: %+v, want one, written once, with every event", recs)
		}
		if n := env.crm.Writes(); n != 2 {
			t.Errorf("%d write requests, want 2: the killed one and its repeat", n)
		}
		wantTasks := 0
		if env.canTask {
			wantTasks = 1
		}
		if tasks := env.backend.Tasks(); len(tasks) != wantTasks {
			t.Errorf("%d follow-up tasks, want %d", len(tasks), wantTasks)
		}
	})
}

// startChild runs TestCallsWorkerChild in a new process and waits until
// its worker runs; the process is killed when the test ends.
func startChild(t *testing.T, dbURL string, w *callsWorld) *exec.Cmd {
	t.Helper()
	apps, err := json.Marshal(w.resolver.OAuth)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCallsWorkerChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childDBVar+"="+dbURL, childRedisVar+"="+w.redisURL, childOAuthVar+"="+string(apps))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "child worker running") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the child worker did not start")
	}
	return cmd
}

// TestCallsWorkerChild is the worker process of TestCalls_WorkerKilled:
// the production handler, batching and Sweeper (test-sized thresholds,
// a 3-second lease) against the parent's database, Redis and CRM fakes.
// It runs until it is killed.
func TestCallsWorkerChild(t *testing.T) {
	dbURL := os.Getenv(childDBVar)
	if dbURL == "" {
		t.Skip("the child worker of TestCalls_WorkerKilled")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{URL: dbURL, Sealer: storetest.Sealer(t)})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(os.Getenv(childRedisVar))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	var apps map[string]*oauth2.Config
	if err := json.Unmarshal([]byte(os.Getenv(childOAuthVar)), &apps); err != nil {
		t.Fatalf("%s: %v", childOAuthVar, err)
	}
	resolver := &connectors.Resolver{Accounts: db, Redis: rdb, OAuth: apps}
	redisOpt := redisOpt(t, os.Getenv(childRedisVar))
	enq := &jobs.Enqueuer{Client: asynq.NewClient(redisOpt)}
	w := &callsWorld{db: db, redisURL: os.Getenv(childRedisVar), enq: enq,
		handler: &jobs.CallsHandler{Connections: resolver, Calls: db, Queue: enq, Batch: true, Lease: 3 * time.Second}}
	w.startWorker(t)
	w.startSweeper(t, 2*time.Second)
	fmt.Println("child worker running")
	time.Sleep(10 * time.Minute) // until the parent kills it
}
