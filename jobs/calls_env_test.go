package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
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
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/web"
)

// The call push-back tests' world: a tenant (region UA) with an amoCRM
// account on the amo fake, two CRM users linked to two employees, and one
// known customer whose contact belongs to the first user.
const (
	userAnna  = "1001" // responsible for the known customer
	userBoris = "1002"
	customer  = "+380671112233" // has a contact in the CRM
	stranger  = "+380679998877" // unknown to the CRM
	ourDID    = "+380441234567"
)

type callsEnv struct {
	db       *store.DB
	redisURL string
	rdb      *redis.Client
	backend  *connectortest.Backend
	amo      *amocrmtest.Handler
	amoSrv   *httptest.Server
	tenant   telephony.Tenant
	creds    store.TenantCredentials
	acct     store.Account
	emps     map[string]telephony.Employee // by CRM user id
	contact  string                        // the known customer's contact id
	resolver *connectors.Resolver
	handler  *jobs.CallsHandler
	enq      *jobs.Enqueuer
	api      *httptest.Server
}

// newCallsEnv builds the world; amoHandler, when set, wraps the fake's
// handler (fault injection by time).
func newCallsEnv(t *testing.T, amoHandler func(http.Handler) http.Handler) *callsEnv {
	t.Helper()
	return newCallsEnvOn(t, storetest.MustOpen(t), amoHandler)
}

// newCallsEnvOn builds the world on db.
func newCallsEnvOn(t *testing.T, db *store.DB, amoHandler func(http.Handler) http.Handler) *callsEnv {
	t.Helper()
	ctx := context.Background()
	env := &callsEnv{db: db, redisURL: testenv.RedisURL(t), backend: connectortest.NewBackend(),
		emps: map[string]telephony.Employee{}}
	opts, err := redis.ParseURL(env.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	env.rdb = redis.NewClient(opts)
	t.Cleanup(func() { env.rdb.Close() })
	env.backend.AddUsers(connectors.User{ID: userAnna, Name: "Anna Koval", Email: "anna@corp.example", Active: true},
		connectors.User{ID: userBoris, Name: "Borys Lysenko", Email: "borys@corp.example", Active: true})
	env.contact = env.backend.AddRecords(connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact,
		Title: "Known Customer", ResponsibleUserID: userAnna, Phones: []string{customer}}})[0]
	env.amo = amocrmtest.NewHandler(env.backend)
	var h http.Handler = env.amo
	if amoHandler != nil {
		h = amoHandler(h)
	}
	env.amoSrv = httptest.NewServer(h)
	t.Cleanup(env.amoSrv.Close)

	env.tenant, env.creds, err = env.db.CreateTenant(ctx, telephony.NewTenant{Name: "Calls", Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		t.Fatal(err)
	}
	env.acct, err = env.db.LinkAccount(ctx, env.tenant.ID, store.LinkAccount{Connector: "amocrm", Name: "amo",
		ExternalID: "amo-calls", BaseURL: env.amoSrv.URL, Token: env.amo.IssueToken(time.Now().Add(24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	var users []mapping.CRMUser
	for _, u := range env.backend.Users() {
		e, err := env.db.CreateEmployee(ctx, env.tenant.ID, telephony.EmployeeInput{Email: u.Email, FullName: u.Name,
			Position: "Sales", OtherContacts: []string{"+38050" + u.ID[1:] + "0000"}})
		if err != nil {
			t.Fatal(err)
		}
		env.emps[u.ID] = e
		users = append(users, mapping.CRMUser{ID: u.ID, Name: u.Name, Email: u.Email, Active: true})
	}
	if _, err := env.db.ApplyUserSync(ctx, env.tenant.ID, env.acct.ID, users); err != nil {
		t.Fatal(err)
	}
	env.resolver = &connectors.Resolver{Accounts: env.db, Redis: env.rdb, Base: env.amoSrv.Client().Transport,
		OAuth: map[string]*oauth2.Config{"amocrm": amocrmtest.Config(env.amoSrv.URL)}}
	client := asynq.NewClient(redisOpt(t, env.redisURL))
	t.Cleanup(func() { client.Close() })
	env.enq = &jobs.Enqueuer{Client: client}
	env.handler = &jobs.CallsHandler{Connections: env.resolver, Calls: env.db, Queue: env.enq, Batch: true}
	events := &web.Events{Calls: env.db, Queue: env.enq}
	env.api = httptest.NewServer(events.Handler(env.db))
	t.Cleanup(env.api.Close)
	return env
}

func redisOpt(t *testing.T, u string) asynq.RedisConnOpt {
	t.Helper()
	opt, err := asynq.ParseRedisURI(u)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

// startWorker runs an asynq server with the production settings (WithCalls)
// processing call tasks with env.handler, until the test ends.
func (env *callsEnv) startWorker(t *testing.T) *asynq.Server {
	t.Helper()
	srv := asynq.NewServer(redisOpt(t, env.redisURL), jobs.WithCalls(asynq.Config{
		Concurrency:              8,
		Queues:                   map[string]int{jobs.QueueCritical: 6, jobs.QueueDefault: 3, jobs.QueueLow: 1},
		RetryDelayFunc:           jobs.RetryDelay,
		IsFailure:                jobs.IsFailure,
		ErrorHandler:             jobs.ErrorHandler(slog.New(slog.NewTextHandler(io.Discard, nil))),
		ShutdownTimeout:          5 * time.Second,
		DelayedTaskCheckInterval: time.Second,
		LogLevel:                 asynq.FatalLevel,
	}))
	mux := asynq.NewServeMux()
	jobs.RegisterCalls(mux, env.handler)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// startSweeper runs a Sweeper with test-sized thresholds.
func (env *callsEnv) startSweeper(t *testing.T, fresh time.Duration) {
	t.Helper()
	sw := &jobs.Sweeper{Calls: env.db, Queue: env.enq, Interval: 500 * time.Millisecond, Fresh: fresh, Retried: 20 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	sw.Start()
	t.Cleanup(sw.Shutdown)
}

// ev is a call event as the PBX posts it.
type ev map[string]any

// call returns the usual events of an inbound call from from, answered by
// the employee linked to answeredBy ("" for a missed call).
func call(id, from, answeredBy string, emps map[string]telephony.Employee) []ev {
	at := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	out := []ev{{"call_id": id, "kind": "call.started", "seq": 1, "occurred_at": at, "direction": "inbound",
		"caller": from, "callee": ourDID}}
	answered := answeredBy != ""
	if answered {
		out = append(out, ev{"call_id": id, "kind": "call.answered", "seq": 2, "occurred_at": at.Add(5 * time.Second),
			"employee_id": emps[answeredBy].ID})
	}
	out = append(out,
		ev{"call_id": id, "kind": "call.finished", "seq": 3, "occurred_at": at.Add(65 * time.Second), "duration_s": 60,
			"answered": answered, "recording_url": "https://pbx.example/rec/" + id + ".mp3"},
		ev{"call_id": id, "kind": "call.tagged", "seq": 4, "occurred_at": at.Add(90 * time.Second), "category": "sales",
			"value": "high"},
		ev{"call_id": id, "kind": "call.commented", "seq": 5, "occurred_at": at.Add(95 * time.Second), "text": "wants a quote"})
	return out
}

// post signs and posts body (any JSON value) to /api/v1/events.
func (env *callsEnv) post(t *testing.T, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	return env.do(t, b, ts, web.Sign(env.creds.SigningSecret, ts, b))
}

// do posts raw bytes with the given signature headers ("" leaves one out).
func (env *callsEnv) do(t *testing.T, body []byte, ts, sig string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", env.api.URL+"/api/v1/events", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env.creds.APIKey)
	req.Header.Set("Content-Type", "application/json")
	if ts != "" {
		req.Header.Set(web.HeaderTimestamp, ts)
	}
	if sig != "" {
		req.Header.Set(web.HeaderSignature, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// mustPost posts events as a batch and wants them all accepted.
func (env *callsEnv) mustPost(t *testing.T, events []ev) {
	t.Helper()
	status, out := env.post(t, map[string]any{"events": events})
	if status != http.StatusOK || out["accepted"] != float64(len(events)) {
		t.Fatalf("post: %d %v", status, out)
	}
}

// status reads the call's status through the store.
func (env *callsEnv) status(t *testing.T, callID string) jobs.CallStatus {
	t.Helper()
	cs, err := env.db.CallStatus(context.Background(), env.tenant.ID, callID)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitDelivered waits until every event of the calls is delivered.
func (env *callsEnv) waitDelivered(t *testing.T, d time.Duration, callIDs ...string) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("%d calls delivered", len(callIDs)), func() bool {
		for _, id := range callIDs {
			cs, err := env.db.CallStatus(context.Background(), env.tenant.ID, id)
			if err != nil || cs.Status != jobs.EventDelivered {
				return false
			}
		}
		return true
	})
}

// crmCalls returns the fake's call records by our call id.
func (env *callsEnv) crmCalls() map[string][]connectortest.CallRecord {
	out := map[string][]connectortest.CallRecord{}
	for _, c := range env.backend.Calls() {
		out[c.Call.ExternalCallID] = append(out[c.Call.ExternalCallID], c)
	}
	return out
}

// eventRows counts the stored events and calls of the tenant.
func (env *callsEnv) eventRows(t *testing.T) (events, calls int) {
	t.Helper()
	db := env.db.SQL()
	if err := db.Get(&events, db.Rebind(`SELECT COUNT(*) FROM call_events WHERE tenant_id = ?`), env.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&calls, db.Rebind(`SELECT COUNT(*) FROM calls WHERE tenant_id = ?`), env.tenant.ID); err != nil {
		t.Fatal(err)
	}
	return events, calls
}

// route records the router's decision for the calls: the known customer's
// contact, owned by userAnna, so delivery needs no CRM lookup.
func (env *callsEnv) route(t *testing.T, callIDs ...string) {
	t.Helper()
	batch := map[string]telephony.Decision{}
	for _, id := range callIDs {
		batch[id] = telephony.Decision{Outcome: telephony.OutcomeRouted, Reason: "test", TenantID: env.tenant.ID,
			Caller: customer, DID: ourDID, AccountID: env.acct.ID, EntityKind: string(connectors.KindContact),
			EntityID: env.contact, CRMUserID: userAnna, EmployeeID: env.emps[userAnna].ID}
	}
	if err := env.db.RecordDecisions(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}
