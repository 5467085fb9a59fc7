package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"sort"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/telephony"
)

// amo's limit and batch size, which make the floor.
const (
	amoRate  = 7
	amoBatch = 50
)

type drainResult struct {
	Events, Calls, PerCall  int
	Concurrency             int
	Drain, Floor            time.Duration
	Requests, Rejected      int            // CRM API requests served, and answered 429
	ByPath                  map[string]int // served requests by method and path
	Records, Lost, Dup      int            // CRM call records; calls without one; extra records
	Rewrites                int            // records written more than once (none expected with -per-call 1)
	SeedTime, EnqueueTime   time.Duration
	AvgBatch                float64 // calls per write request
	DeliveredCallsPerSecond float64
}

func runDrain(dsn, redisURL string, events, perCall, concurrency int) (drainResult, error) {
	ctx := context.Background()
	if perCall != 1 && perCall != 5 {
		return drainResult{}, fmt.Errorf("-per-call must be 1 or 5")
	}
	res := drainResult{Events: events, PerCall: perCall, Calls: events / perCall, Concurrency: concurrency}
	db, closeDB, err := openStore(ctx, dsn)
	if err != nil {
		return res, err
	}
	defer closeDB()
	rURL, rdb, err := redisDB13(ctx, redisURL)
	if err != nil {
		return res, err
	}
	defer rdb.Close()

	backend := connectortest.NewBackend()
	backend.AddUsers(connectors.User{ID: "1001", Name: "Anna Koval", Email: "anna@corp.example", Active: true})
	contact := backend.AddRecords(connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact,
		Title: "Customer", ResponsibleUserID: "1001", Phones: []string{"+380671112233"}}})[0]
	amo := amocrmtest.NewHandler(backend)
	limited := &strictRate{Next: amo, Rate: amoRate, Per: time.Second}
	crm := httptest.NewServer(limited)
	defer crm.Close()

	tn, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Bench", Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		return res, err
	}
	acct, err := db.LinkAccount(ctx, tn.ID, store.LinkAccount{Connector: "amocrm", Name: "amo", ExternalID: "bench",
		BaseURL: crm.URL, Token: amo.IssueToken(time.Now().Add(24 * time.Hour))})
	if err != nil {
		return res, err
	}
	emp, err := db.CreateEmployee(ctx, tn.ID, telephony.EmployeeInput{Email: "anna@corp.example", FullName: "Anna Koval", Position: "Sales"})
	if err != nil {
		return res, err
	}
	if _, err := db.ApplyUserSync(ctx, tn.ID, acct.ID, []mapping.CRMUser{{ID: "1001", Name: "Anna Koval",
		Email: "anna@corp.example", Active: true}}); err != nil {
		return res, err
	}

	start := time.Now()
	keys, err := seedDrain(ctx, db, tn, acct.ID, contact, emp.ID, res.Calls, perCall)
	if err != nil {
		return res, err
	}
	res.SeedTime = time.Since(start)

	opt, err := asynq.ParseRedisURI(rURL)
	if err != nil {
		return res, err
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	enq := &jobs.Enqueuer{Client: client}
	resolver := &connectors.Resolver{Accounts: db, Redis: rdb, Base: crm.Client().Transport,
		OAuth: map[string]*oauth2.Config{"amocrm": amocrmtest.Config(crm.URL)}}
	srv := asynq.NewServer(opt, jobs.WithCalls(asynq.Config{
		Concurrency:     concurrency,
		Queues:          map[string]int{jobs.QueueCritical: 6, jobs.QueueDefault: 3, jobs.QueueLow: 1},
		RetryDelayFunc:  jobs.RetryDelay,
		IsFailure:       jobs.IsFailure,
		ErrorHandler:    jobs.ErrorHandler(slog.New(slog.NewTextHandler(io.Discard, nil))),
		ShutdownTimeout: 10 * time.Second,
		LogLevel:        asynq.WarnLevel,
	}))
	mux := asynq.NewServeMux()
	jobs.RegisterCalls(mux, &jobs.CallsHandler{Connections: resolver, Calls: db, Queue: enq, Batch: true})
	if err := srv.Start(mux); err != nil {
		return res, err
	}
	defer srv.Shutdown()

	start = time.Now()
	if err := enq.EnqueueCalls(ctx, keys); err != nil {
		return res, err
	}
	res.EnqueueTime = time.Since(start)
	deadline := start.Add(10 * time.Minute)
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	last := time.Now()
	for {
		if verbose && time.Since(last) > time.Second {
			last = time.Now()
			var resolved int
			_ = db.SQL().GetContext(ctx, &resolved, `SELECT COUNT(*) FROM calls WHERE resolved_at IS NOT NULL`)
			q, _ := insp.GetQueueInfo(jobs.QueueCritical)
			n, _ := countDelivered(ctx, db, tn.ID)
			ok, _, _ := limited.counts()
			if q != nil {
				fmt.Fprintf(os.Stderr, "%6.1fs delivered %d resolved %d requests %d | pending %d active %d scheduled %d retry %d groups %d aggregating %d\n",
					time.Since(start).Seconds(), n, resolved, ok, q.Pending, q.Active, q.Scheduled, q.Retry, q.Groups, q.Aggregating)
			}
		}
		n, err := countDelivered(ctx, db, tn.ID)
		if err != nil {
			return res, err
		}
		if n == events {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d events delivered after 10 minutes", n, events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Drain = time.Since(start)
	if verbose {
		fmt.Fprintf(os.Stderr, "pauses between CRM requests over 250ms: %v\n", limited.gaps(start, 250*time.Millisecond))
	}
	res.Floor = time.Duration(float64(events) / float64(amoRate*amoBatch) * float64(time.Second))
	res.Requests, res.Rejected, res.ByPath = limited.counts()

	byCall := map[string]int{}
	for _, c := range backend.Calls() {
		byCall[c.Call.ExternalCallID]++
		if c.Writes > 1 {
			res.Rewrites++
		}
	}
	res.Records = len(backend.Calls())
	res.Lost = res.Calls - len(byCall)
	for _, n := range byCall {
		res.Dup += n - 1
	}
	writes := 0
	for path, n := range res.ByPath {
		if path != "GET /api/v4/account" {
			writes += n
		}
	}
	if writes > 0 {
		res.AvgBatch = float64(res.Calls) / float64(writes)
	}
	res.DeliveredCallsPerSecond = float64(res.Calls) / res.Drain.Seconds()
	return res, nil
}

// seedDrain stores the calls' events through the intake path (with the
// routing decision of each call) and returns the calls to enqueue.
func seedDrain(ctx context.Context, db *store.DB, tn telephony.Tenant, accountID int64, contact string, employeeID int64,
	calls, perCall int) ([]jobs.CallKey, error) {
	at := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	var decisions []telephony.CallDecision
	var evs []jobs.CallEvent
	var keys []jobs.CallKey
	flush := func() error {
		if err := db.RecordDecisions(ctx, decisions); err != nil {
			return err
		}
		rec, err := db.RecordCallEvents(ctx, tn.ID, evs)
		if err != nil {
			return err
		}
		keys = append(keys, rec.Calls...)
		decisions, evs = nil, nil
		return nil
	}
	dur, yes := int64(60), true
	for i := range calls {
		id := fmt.Sprintf("bench-%06d", i)
		decisions = append(decisions, telephony.CallDecision{CallID: id, Decision: telephony.Decision{
			Outcome: telephony.OutcomeRouted, Reason: "bench", TenantID: tn.ID, Caller: "+380671112233",
			DID: "+380441234567", AccountID: accountID, EntityKind: "contact", EntityID: contact, CRMUserID: "1001",
			EmployeeID: employeeID}})
		base := jobs.CallEvent{CallID: id, OccurredAt: at, Direction: connectors.Inbound, Caller: "+380671112233", Callee: "+380441234567"}
		finished := base
		finished.Kind, finished.Seq, finished.DurationS, finished.Answered = jobs.EventFinished, 3, &dur, &yes
		finished.RecordingURL = "https://pbx.example/rec/" + id + ".mp3"
		if perCall == 1 {
			evs = append(evs, finished)
		} else {
			started, answered, tagged, commented := base, base, base, base
			started.Kind, started.Seq = jobs.EventStarted, 1
			answered.Kind, answered.Seq, answered.EmployeeID = jobs.EventAnswered, 2, employeeID
			tagged.Kind, tagged.Seq, tagged.Category, tagged.Value = jobs.EventTagged, 4, "sales", "high"
			commented.Kind, commented.Seq, commented.Text = jobs.EventCommented, 5, "wants a quote"
			evs = append(evs, started, answered, finished, tagged, commented)
		}
		if len(evs) >= 500 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if len(evs) > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func countDelivered(ctx context.Context, db *store.DB, tenantID int64) (int, error) {
	var n int
	err := db.SQL().GetContext(ctx, &n, db.SQL().Rebind(`SELECT COUNT(*) FROM call_events WHERE tenant_id = ? AND status = ?`),
		tenantID, jobs.EventDelivered)
	return n, err
}

func (r drainResult) report(w io.Writer) bool {
	ratio := r.Drain.Seconds() / r.Floor.Seconds()
	ok := r.Lost == 0 && r.Dup == 0 && r.Rejected == 0 && (r.PerCall != 1 || r.Rewrites == 0)
	verdict := "OK"
	if !ok {
		verdict = "FAILED CHECKS"
	} else if ratio > drainTarget {
		verdict = fmt.Sprintf("over the %.1f× target", drainTarget)
		ok = false
	}
	fmt.Fprintf(w, "drain: %d events (%d calls × %d) for one amoCRM account at %d req/s, concurrency %d\n",
		r.Events, r.Calls, r.PerCall, amoRate, r.Concurrency)
	fmt.Fprintf(w, "  drained in %s; floor events/(%d×%d) = %s; %.2f× the floor (%s)\n",
		r.Drain.Round(time.Millisecond), amoRate, amoBatch, r.Floor.Round(time.Millisecond), ratio, verdict)
	fmt.Fprintf(w, "  CRM requests %d (429s: %d), %.1f calls per write request; %.0f calls/s delivered\n",
		r.Requests, r.Rejected, r.AvgBatch, r.DeliveredCallsPerSecond)
	paths := make([]string, 0, len(r.ByPath))
	for p := range r.ByPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(w, "    %-36s %d\n", p, r.ByPath[p])
	}
	fmt.Fprintf(w, "  CRM records %d for %d calls: %d lost, %d duplicated, %d rewritten; seeding took %s, enqueueing %s\n",
		r.Records, r.Calls, r.Lost, r.Dup, r.Rewrites, r.SeedTime.Round(time.Millisecond), r.EnqueueTime.Round(time.Millisecond))
	return ok
}
