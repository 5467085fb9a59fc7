package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/all/alltest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/jobs/jobstest"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

// mustServer starts a real asynq server on redisURL with the production
// retry policy, processing with h, and stops it when the test ends.
func mustServer(t *testing.T, redisURL string, h *jobs.Handler) {
	t.Helper()
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:     4,
		Queues:          map[string]int{jobs.QueueCritical: 6, jobs.QueueDefault: 3, jobs.QueueLow: 1},
		RetryDelayFunc:  jobs.RetryDelay,
		IsFailure:       jobs.IsFailure,
		ErrorHandler:    jobs.ErrorHandler(slog.Default()),
		ShutdownTimeout: 10 * time.Second,
		LogLevel:        asynq.WarnLevel,
	})
	mux := asynq.NewServeMux()
	jobs.Register(mux, h)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

func mustClient(t *testing.T, redisURL string) *asynq.Client {
	t.Helper()
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := asynq.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond) // polling, not synchronisation
	}
}

// finishedRuns returns the account's finished sync runs, oldest first.
func finishedRuns(t *testing.T, db *store.DB, tn telephony.Tenant, acct store.Account) []store.SyncRun {
	t.Helper()
	runs, err := db.SyncRuns(context.Background(), tn.ID, acct.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	runs = slices.DeleteFunc(runs, func(r store.SyncRun) bool { return r.Status == "running" })
	slices.Reverse(runs)
	return runs
}

// TestIntegration_Sync10k enqueues an on-demand sync through a real asynq
// client, lets a real asynq.Server run it against the store (PostgreSQL
// when configured) and each CRM's fake over HTTP through the production
// resolver and transport, and checks the report of 10,000 users exactly.
// Three users were linked by an earlier sync and are now deactivated: they
// lose their links, and the CRM counts the records they still own. The
// CRMs run as parallel subtests served by one worker.
func TestIntegration_Sync10k(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000-user sync; skipped in -short mode")
	}
	db := storetest.MustOpen(t)
	redisURL := testenv.RedisURL(t)
	scenario := jobstest.Scenario{N: 10000}
	type crmAccount struct {
		crm  *alltest.CRM
		tn   telephony.Tenant
		acct store.Account
	}
	resolver := &connectors.Resolver{Accounts: db, OAuth: map[string]*oauth2.Config{}}
	var accounts []crmAccount
	for i, name := range alltest.Names {
		backend := connectortest.NewBackend()
		backend.AddUsers(scenario.Users()...)
		deal := func(owner string) connectortest.Record {
			return connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindDeal, Title: "deal of " + owner, ResponsibleUserID: owner}}
		}
		backend.AddRecords(deal("100019"), deal("100019"),
			connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact, Title: "contact", ResponsibleUserID: "100039"}})
		crm := alltest.Start(t, name, backend, nil)
		tn, acct := mustAccountOf(t, db, name, fmt.Sprint(42011+i), crm.BaseURL, crm.IssueToken(time.Now().Add(24*time.Hour)))
		resolver.OAuth[name] = crm.OAuth
		resolver.Base = crm.Transport() // plain HTTP: reaches every fake
		accounts = append(accounts, crmAccount{crm, tn, acct})
	}
	mustServer(t, redisURL, &jobs.Handler{Connections: resolver, Syncs: db})
	enq := &jobs.Enqueuer{Client: mustClient(t, redisURL)}

	for _, a := range accounts {
		t.Run(a.crm.Name, func(t *testing.T) {
			t.Parallel()
			testSync10k(t, db, enq, scenario, a.tn, a.acct)
		})
	}
}

func testSync10k(t *testing.T, db *store.DB, enq *jobs.Enqueuer, scenario jobstest.Scenario, tn telephony.Tenant, acct store.Account) {
	ctx := context.Background()
	users := scenario.Users()
	if err := scenario.SeedEmployees(ctx, db, tn.ID, tn.Prefix); err != nil {
		t.Fatal(err)
	}
	// An earlier sync, when users 19, 39 and 59 were still active.
	var earlier []mapping.CRMUser
	for _, i := range []int{19, 39, 59} {
		u := users[i]
		earlier = append(earlier, mapping.CRMUser{ID: u.ID, Name: u.Name, Email: u.Email, Active: true})
	}
	if res, err := db.ApplyUserSync(ctx, tn.ID, acct.ID, earlier); err != nil || res.Counts["email"] != 3 {
		t.Fatalf("earlier sync: %v, %v", res.Counts, err)
	}

	start := time.Now()
	taskID, err := enq.EnqueueSync(ctx, tn.ID, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := enq.EnqueueSync(ctx, tn.ID, acct.ID); err != nil || again != taskID {
		t.Fatalf("second enqueue = %q, %v; want the same task %q", again, err, taskID)
	}
	var runs []store.SyncRun
	waitFor(t, 2*time.Minute, "the sync run", func() bool {
		runs = finishedRuns(t, db, tn, acct)
		return len(runs) > 0
	})
	t.Logf("10,000 users synced in %s (report: %s)", time.Since(start), strings.SplitN(string(runs[0].Report), `"ambiguous"`, 2)[0])
	if len(runs) != 1 || runs[0].Status != "succeeded" {
		t.Fatalf("runs = %+v", runs)
	}
	_, rep := lastRun(t, db, tn, acct)
	w := scenario.Want()
	type counts struct {
		Trigger, TaskID                                     string
		Fetched, Active, Email, Phone, Name, Manual         int
		Ambiguous, Unmatched, Unlinked, Provisioned, Errors int
		Owned                                               []int
	}
	got := counts{rep.Trigger, rep.TaskID, rep.Fetched, rep.Active, rep.Matched.Email, rep.Matched.Phone, rep.Matched.Name,
		rep.ManualKept, len(rep.Ambiguous), rep.Unmatched, len(rep.Unlinked), rep.Provisioned, len(rep.Errors), nil}
	for _, o := range rep.OwnedByInactive {
		got.Owned = append(got.Owned, o.Total)
	}
	want := counts{"on_demand", taskID, w.Fetched, w.Active, w.Email, 0, w.Name, 0, w.Ambiguous, w.Unmatched, 3, 0, 0, []int{2, 1, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report counts (-want +got):\n%s", diff)
	}
	for _, u := range rep.Unlinked {
		if u.Reason != mapping.ReasonDeactivated {
			t.Errorf("unlinked %s: %q", u.CRMUserID, u.Reason)
		}
	}

	links, err := db.AccountLinks(ctx, tn.ID, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	linked := 0
	for _, l := range links {
		if l.Linked {
			linked++
		}
	}
	if len(links) != 10000 || linked != w.Email+w.Name {
		t.Errorf("stored %d users, %d linked; want 10000, %d", len(links), linked, w.Email+w.Name)
	}
	if a, _ := db.Account(ctx, tn.ID, acct.ID); a.LastSyncAt == nil {
		t.Error("last_sync_at not set")
	}
}

// TestIntegration_TwoSchedulers runs two "worker processes" (a periodic
// task manager and an asynq server each) against the same Redis and
// store, with a 3-second sync interval, and checks that every slot's sync
// runs exactly once: one run per task id, and as many CRM listings as runs.
func TestIntegration_TwoSchedulers(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for several sync slots; skipped in -short mode")
	}
	db := storetest.MustOpen(t)
	redisURL := testenv.RedisURL(t)
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	tn, acct := mustAccount(t, db, "42002", "https://x.amocrm.ru", nil)
	backend := connectortest.NewBackend()
	backend.AddUsers(connectors.User{ID: "1", Name: "Only User", Email: "only@elsewhere.example", Active: true})

	const interval = 3 * time.Second
	p := &jobs.PeriodicSyncs{
		Accounts: func(ctx context.Context) ([]jobs.SyncSchedule, error) {
			accts, err := db.SyncableAccounts(ctx)
			var out []jobs.SyncSchedule
			for _, a := range accts {
				out = append(out, jobs.SyncSchedule{TenantID: a.TenantID, AccountID: a.ID, Interval: interval})
			}
			return out, err
		},
		MinInterval: time.Second,
	}
	for range 2 {
		mustServer(t, redisURL, &jobs.Handler{Connections: &conns{conn: connectortest.NewFake(backend)}, Syncs: db})
		mgr, err := jobs.NewPeriodicTaskManager(opt, p, 500*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := mgr.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(mgr.Shutdown)
	}

	waitFor(t, 30*time.Second, "runs in 4 slots", func() bool { return len(finishedRuns(t, db, tn, acct)) >= 4 })
	runs := finishedRuns(t, db, tn, acct)
	seen := map[string]int{}
	var ids []string
	for _, r := range runs {
		_, rep := runReport(t, r)
		if r.Status != "succeeded" || rep.Trigger != "periodic" {
			t.Errorf("run %d: %s, trigger %s, error %q", r.ID, r.Status, rep.Trigger, r.Error)
		}
		if seen[rep.TaskID]++; seen[rep.TaskID] == 2 {
			t.Errorf("slot %s ran twice", rep.TaskID)
		}
		ids = append(ids, rep.TaskID)
	}
	if n := backend.Requests("fake list users"); n < len(runs) || n > len(runs)+2 {
		// Up to two more runs may have started since the runs were read.
		t.Errorf("%d CRM listings for %d runs", n, len(runs))
	}
	t.Logf("slots run: %v", ids)
}

func runReport(t *testing.T, r store.SyncRun) (store.SyncRun, jobs.SyncReport) {
	t.Helper()
	var rep jobs.SyncReport
	if err := json.Unmarshal(r.Report, &rep); err != nil {
		t.Fatalf("report %s: %v", r.Report, err)
	}
	return r, rep
}
