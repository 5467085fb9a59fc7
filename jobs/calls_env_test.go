package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/web"
)

// The call push-back tests' world, one per CRM: a tenant (region UA) with
// an account on the CRM's fake, two CRM users linked to two employees, and
// one known customer whose contact belongs to the first user.
const (
	userAnna  = "1001" // responsible for the known customer
	userBoris = "1002"
	customer  = "+380671112233" // has a contact in the CRM
	stranger  = "+380679998877" // unknown to the CRM
	ourDID    = "+380441234567"
)

// callsWorld is what the push-back tests run in: one store, one Redis
// database, one events API and (once started) one worker, whose resolver
// serves a tenant and account per CRM (envs). The CRMs share it rather
// than each having a world of its own because the test Redis database is
// one per test process (testenv.RedisURL) and asynq's keys have no prefix:
// two asynq servers on it would take each other's tasks. So, as a
// production worker serves many tenants, this one serves every CRM's
// tenant, and each case checks each CRM's fake got exactly its tenant's
// calls.
type callsWorld struct {
	db       *store.DB
	redisURL string
	rdb      *redis.Client
	resolver *connectors.Resolver
	handler  *jobs.CallsHandler
	enq      *jobs.Enqueuer
	api      *httptest.Server
	envs     []*callsEnv // one per CRM, in the order asked for
}

// callsEnv is one CRM's tenant in a callsWorld.
type callsEnv struct {
	*callsWorld
	name      string // the CRM's registry name
	crm       *alltest.CRM
	backend   *connectortest.Backend
	canTask   bool // the connector creates tasks (else follow-ups go into the call's note)
	canCreate bool // the connector creates records for unknown callers
	tenant    telephony.Tenant
	creds     store.TenantCredentials
	acct      store.Account
	emps      map[string]telephony.Employee // by CRM user id
	contact   string                        // the known customer's contact id
}

// newCallsWorld builds the world with a tenant on each CRM of names;
// wrap, when set, wraps each CRM fake's handler (fault injection by time).
func newCallsWorld(t *testing.T, names []string, wrap func(crm string, h http.Handler) http.Handler) *callsWorld {
	t.Helper()
	return newCallsWorldOn(t, storetest.MustOpen(t), names, wrap)
}

// newCallsWorldOn builds the world on db.
func newCallsWorldOn(t *testing.T, db *store.DB, names []string, wrap func(crm string, h http.Handler) http.Handler) *callsWorld {
	t.Helper()
	w := &callsWorld{db: db, redisURL: testenv.RedisURL(t)}
	opts, err := redis.ParseURL(w.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	w.rdb = redis.NewClient(opts)
	t.Cleanup(func() { w.rdb.Close() })
	w.resolver = &connectors.Resolver{Accounts: w.db, Redis: w.rdb, OAuth: map[string]*oauth2.Config{}}
	for _, name := range names {
		env := w.addCRM(t, name, wrap)
		w.resolver.OAuth[name] = env.crm.OAuth
		w.resolver.Base = env.crm.Transport() // plain HTTP: reaches every fake
	}
	client := asynq.NewClient(redisOpt(t, w.redisURL))
	t.Cleanup(func() { client.Close() })
	w.enq = &jobs.Enqueuer{Client: client}
	w.handler = &jobs.CallsHandler{Connections: w.resolver, Calls: w.db, Queue: w.enq, Batch: true}
	events := &web.Events{Calls: w.db, Queue: w.enq}
	w.api = httptest.NewServer(events.Handler(w.db))
	t.Cleanup(w.api.Close)
	return w
}

// addCRM starts the fake of the CRM name and builds its tenant.
func (w *callsWorld) addCRM(t *testing.T, name string, wrap func(crm string, h http.Handler) http.Handler) *callsEnv {
	t.Helper()
	ctx := context.Background()
	env := &callsEnv{callsWorld: w, name: name, backend: connectortest.NewBackend(), emps: map[string]telephony.Employee{}}
	w.envs = append(w.envs, env)
	env.backend.AddUsers(connectors.User{ID: userAnna, Name: "Anna Koval", Email: "anna@corp.example", Active: true},
		connectors.User{ID: userBoris, Name: "Borys Lysenko", Email: "borys@corp.example", Active: true})
	env.contact = env.backend.AddRecords(connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact,
		Title: "Known Customer", ResponsibleUserID: userAnna, Phones: []string{customer}}})[0]
	var h func(http.Handler) http.Handler
	if wrap != nil {
		h = func(next http.Handler) http.Handler { return wrap(name, next) }
	}
	env.crm = alltest.Start(t, name, env.backend, h)
	conn := env.crm.Connector(t, 0)
	_, env.canTask = conn.(connectors.TaskCreator)
	_, env.canCreate = conn.(connectors.EntityCreator)

	var err error
	env.tenant, env.creds, err = w.db.CreateTenant(ctx, telephony.NewTenant{Name: "Calls on " + name, Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		t.Fatal(err)
	}
	env.acct = env.link(t, time.Now().Add(24*time.Hour))
	var users []mapping.CRMUser
	for _, u := range env.backend.Users() {
		e, err := w.db.CreateEmployee(ctx, env.tenant.ID, telephony.EmployeeInput{Email: u.Email, FullName: u.Name,
			Position: "Sales", OtherContacts: []string{"+38050" + u.ID[1:] + "0000"}})
		if err != nil {
			t.Fatal(err)
		}
		env.emps[u.ID] = e
		users = append(users, mapping.CRMUser{ID: u.ID, Name: u.Name, Email: u.Email, Active: true})
	}
	if _, err := w.db.ApplyUserSync(ctx, env.tenant.ID, env.acct.ID, users); err != nil {
		t.Fatal(err)
	}
	return env
}

// link links (or relinks) the tenant's account with a token the fake
// accepts until expiry.
func (env *callsEnv) link(t *testing.T, expiry time.Time) store.Account {
	t.Helper()
	a, err := env.db.LinkAccount(context.Background(), env.tenant.ID, store.LinkAccount{Connector: env.name, Name: env.name,
		ExternalID: env.name + "-calls", BaseURL: env.crm.BaseURL, Token: env.crm.IssueToken(expiry),
		WebhookSecret: env.crm.WebhookSecret})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// each runs test once per CRM of the world, as parallel subtests; they
// run after the calling test function returns, so call it last.
func (w *callsWorld) each(t *testing.T, test func(t *testing.T, env *callsEnv)) {
	t.Helper()
	for _, env := range w.envs {
		t.Run(env.name, func(t *testing.T) {
			t.Parallel()
			test(t, env)
		})
	}
}

// intakeEnv is a world of one CRM for the tests of POST /api/v1/events
// alone: intake never reaches a CRM, so which one does not matter.
func intakeEnv(t *testing.T) *callsEnv {
	t.Helper()
	return newCallsWorld(t, alltest.Names[:1], nil).envs[0]
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
func (w *callsWorld) startWorker(t *testing.T) *asynq.Server {
	t.Helper()
	srv := asynq.NewServer(redisOpt(t, w.redisURL), jobs.WithCalls(asynq.Config{
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
	jobs.RegisterCalls(mux, w.handler)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// startSweeper runs a Sweeper with test-sized thresholds.
func (w *callsWorld) startSweeper(t *testing.T, fresh time.Duration) {
	t.Helper()
	sw := &jobs.Sweeper{Calls: w.db, Queue: w.enq, Interval: 500 * time.Millisecond, Fresh: fresh, Retried: 20 * time.Second,
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

// crmCalls returns the CRM fake's call records by our call id: by the
// call id a record holds, else (Pipedrive's call logs hold none) by the
// CRM ref stored for the call. A record that neither names is a write we
// lost track of, a duplicate: it fails the test.
func (env *callsEnv) crmCalls(t *testing.T) map[string][]connectortest.CallRecord {
	t.Helper()
	var ids []string
	db := env.db.SQL()
	if err := db.Select(&ids, db.Rebind(`SELECT call_id FROM calls WHERE tenant_id = ?`), env.tenant.ID); err != nil {
		t.Fatal(err)
	}
	byRef := map[string]string{}
	for _, id := range ids {
		if cs := env.status(t, id); cs.CRM.Ref != nil && cs.CRM.Ref.ID != "" {
			byRef[cs.CRM.Ref.ID] = id
		}
	}
	out := map[string][]connectortest.CallRecord{}
	for _, c := range env.backend.Calls() {
		id := c.Call.ExternalCallID
		if id == "" {
			id = byRef[c.ID]
		}
		if id == "" {
			t.Errorf("a CRM call record no call of ours names (a duplicate?): %+v; the calls' refs: %v", c, byRef)
			continue
		}
		out[id] = append(out[id], c)
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
	var batch []telephony.CallDecision
	for _, id := range callIDs {
		batch = append(batch, telephony.CallDecision{CallID: id, Decision: telephony.Decision{Outcome: telephony.OutcomeRouted, Reason: "test", TenantID: env.tenant.ID,
			Caller: customer, DID: ourDID, AccountID: env.acct.ID, EntityKind: string(connectors.KindContact),
			EntityID: env.contact, CRMUserID: userAnna, EmployeeID: env.emps[userAnna].ID}})
	}
	if err := env.db.RecordDecisions(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

// archived returns the archived call tasks of the env's tenant (the
// other CRMs' tenants share the queue).
func (env *callsEnv) archived(t *testing.T) []*asynq.TaskInfo {
	t.Helper()
	insp := asynq.NewInspector(redisOpt(t, env.redisURL))
	defer insp.Close()
	all, err := insp.ListArchivedTasks(jobs.QueueCritical)
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	var out []*asynq.TaskInfo
	for _, ti := range all {
		var p struct {
			TenantID int64 `json:"tenant_id"`
		}
		if err := json.Unmarshal(ti.Payload, &p); err != nil {
			t.Fatalf("archived task %s: payload %s: %v", ti.ID, ti.Payload, err)
		}
		if p.TenantID == env.tenant.ID {
			out = append(out, ti)
		}
	}
	return out
}

// note returns the call note the CRM should hold: comment, and when the
// CRM cannot create tasks, the follow-ups the tasks would have carried.
func (env *callsEnv) note(comment string, followUps ...string) string {
	if env.canTask {
		return comment
	}
	return strings.Join(append([]string{comment}, followUps...), "\n")
}

// callNote is what a CRM call record says besides its facts.
type callNote struct{ Category, Value, Comment string }

func noteOf(c connectors.CallActivity) callNote { return callNote{c.Category, c.Value, c.Comment} }

// tagged returns the note of a call of the test's usual tags (sales,
// high) and comment as the CRM's record holds it; follow-ups are the
// texts of the tasks the call asks for, in the note where the CRM has no
// tasks.
func (env *callsEnv) tagged(comment string, followUps ...string) callNote {
	return noteOf(env.crm.Held(connectors.CallActivity{Category: "sales", Value: "high", Comment: env.note(comment, followUps...)}))
}
