package jobs_test

import (
	"bufio"
	"context"
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
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
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
	childCRMVar   = "CRMSYNC_CALLS_CHILD_CRM"
)

// TestCalls_WorkerKilled kills a real worker process with SIGKILL while
// the CRM holds its write of a call, then starts another: the call ends up
// in the CRM exactly once, written once. The write never completed at the
// CRM (it answers only after holding the request, and the dead worker's
// connection closed first), so the events stayed pending; the new worker's
// Sweeper finds them once the dead worker's lease lapses (3 s here) and
// writes them. The second write is the only effective one.
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
	env := newCallsEnvOn(t, db, nil)
	env.route(t, "k1")
	env.backend.Inject(connectortest.Fault{Delay: 5 * time.Minute}) // the first CRM request hangs

	first := startChild(t, dbURL, env.redisURL, env.amoSrv.URL)
	env.mustPost(t, call("k1", customer, userBoris, env.emps))
	waitFor(t, 30*time.Second, "the worker's write to reach the CRM", func() bool {
		return env.backend.Requests("POST /api/v4/contacts/notes") == 1
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	if recs := env.crmCalls()["k1"]; len(recs) != 0 {
		t.Fatalf("the killed write was recorded: %+v", recs)
	}
	if cs := env.status(t, "k1"); cs.Status != jobs.EventPending {
		t.Fatalf("after the kill: %+v, want pending", cs)
	}

	start := time.Now()
	startChild(t, dbURL, env.redisURL, env.amoSrv.URL)
	env.waitDelivered(t, 90*time.Second, "k1")
	t.Logf("delivered %s after the second worker started", time.Since(start).Round(time.Millisecond))
	recs := env.crmCalls()["k1"]
	if len(recs) != 1 || recs[0].Writes != 1 || recs[0].Call.Comment != "sales · high · wants a quote" {
		t.Fatalf("CRM records of k1: %+v, want one, written once, with every event", recs)
	}
	if n := env.backend.Requests("POST /api/v4/contacts/notes"); n != 2 {
		t.Errorf("%d write requests, want 2: the killed one and its repeat", n)
	}
	if tasks := env.backend.Tasks(); len(tasks) != 1 {
		t.Errorf("%d follow-up tasks, want 1", len(tasks))
	}
}

// startChild runs TestCallsWorkerChild in a new process and waits until
// its worker runs; the process is killed when the test ends.
func startChild(t *testing.T, dbURL, redisURL, crmURL string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCallsWorkerChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childDBVar+"="+dbURL, childRedisVar+"="+redisURL, childCRMVar+"="+crmURL)
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
// a 3-second lease) against the parent's database, Redis and CRM. It runs
// until it is killed.
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
	crmURL := os.Getenv(childCRMVar)
	resolver := &connectors.Resolver{Accounts: db, Redis: rdb,
		OAuth: map[string]*oauth2.Config{"amocrm": amocrmtest.Config(crmURL)}}
	redisOpt := redisOpt(t, os.Getenv(childRedisVar))
	enq := &jobs.Enqueuer{Client: asynq.NewClient(redisOpt)}
	env := &callsEnv{db: db, redisURL: os.Getenv(childRedisVar), enq: enq,
		handler: &jobs.CallsHandler{Connections: resolver, Calls: db, Queue: enq, Batch: true, Lease: 3 * time.Second}}
	env.startWorker(t)
	env.startSweeper(t, 2*time.Second)
	fmt.Println("child worker running")
	time.Sleep(10 * time.Minute) // until the parent kills it
}
