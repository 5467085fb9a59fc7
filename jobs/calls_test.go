package jobs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/all/alltest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/web"
)

// TestCalls_Delivered posts a whole call answered by someone other than
// the customer's responsible manager, and checks each CRM got one record
// with everything, the responsible manager a task (or, where the CRM has
// no tasks, a line in the call's note), and GET /api/v1/calls/{id} every
// event delivered with the record's ref. A later comment updates the same
// record.
func TestCalls_Delivered(t *testing.T) {
	w := newCallsWorld(t, alltest.Names, nil)
	w.startWorker(t)
	w.each(t, testDelivered)
}

func testDelivered(t *testing.T, env *callsEnv) {
	env.mustPost(t, call("c1", customer, userBoris, env.emps))
	env.waitDelivered(t, 30*time.Second, "c1")

	recs := env.crmCalls(t)["c1"]
	if len(recs) != 1 {
		t.Fatalf("CRM records of c1: %+v", recs)
	}
	got := recs[0].Call
	// What we wrote, as the vendor's call record holds it.
	want := env.crm.Held(connectors.CallActivity{ExternalCallID: "c1", Direction: connectors.Inbound, From: customer,
		To: ourDID, StartedAt: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC), Duration: time.Minute, Answered: true,
		AnsweredBy: userBoris, Responsible: userAnna, Entity: &connectors.EntityRef{Kind: connectors.KindContact, ID: env.contact},
		RecordingURL: "https://pbx.example/rec/c1.mp3", Category: "sales", Value: "high",
		Comment: env.note("wants a quote", "Your client "+customer+" called and was answered by Borys Lysenko.")})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CRM call record (-want +got):\n%s", diff)
	}
	tasks := env.backend.Tasks()
	wantTasks := 0
	if env.canTask {
		wantTasks = 1
		if len(tasks) != 1 || tasks[0].Task.ResponsibleUserID != userAnna || !strings.Contains(tasks[0].Task.Text, "Borys Lysenko") {
			t.Errorf("tasks = %+v, want one for %s naming who answered", tasks, userAnna)
		}
	} else if len(tasks) != 0 {
		t.Errorf("tasks = %+v, want none from a CRM without tasks", tasks)
	}

	var cs jobs.CallStatus
	env.getJSON(t, "/api/v1/calls/c1", &cs)
	if cs.Status != jobs.EventDelivered || len(cs.Events) != 5 || cs.CRM.Ref == nil || cs.CRM.Ref.ID == "" {
		t.Fatalf("status = %+v", cs)
	}
	for _, e := range cs.Events {
		if e.Status != jobs.EventDelivered || e.CRMRef == nil || e.CRMRef.ID != cs.CRM.Ref.ID {
			t.Errorf("event %s: %+v", e.Kind, e)
		}
		if e.Kind == jobs.EventAnswered && env.canTask && e.CRMRef.Extra["notify_task_id"] != tasks[0].ID {
			t.Errorf("answered event's ref %+v does not name the task %s", e.CRMRef, tasks[0].ID)
		}
	}

	env.mustPost(t, []ev{{"call_id": "c1", "kind": "call.commented", "seq": 6, "occurred_at": time.Now(), "text": "sent the quote"}})
	waitFor(t, 30*time.Second, "the new comment in the CRM", func() bool {
		r := env.crmCalls(t)["c1"]
		return len(r) == 1 && strings.HasSuffix(r[0].Call.Comment, "sent the quote")
	})
	env.waitDelivered(t, 10*time.Second, "c1")
	if recs := env.crmCalls(t)["c1"]; len(recs) != 1 || recs[0].Writes != 2 {
		t.Errorf("after the second comment: %+v, want the one record written twice", recs)
	}
	if n := len(env.backend.Tasks()); n != wantTasks {
		t.Errorf("%d tasks after the update, want still %d", n, wantTasks)
	}
}

// getJSON GETs path from the events API into v.
func (env *callsEnv) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", env.api.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+env.creds.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestCalls_MissedAndUnknown: a missed call from a known customer gives
// its responsible manager a task (once), or a line in the call's note
// where the CRM has no tasks; an unknown caller gets a contact when the
// tenant asks for one and the CRM can create it, and the call is filed on
// it.
func TestCalls_MissedAndUnknown(t *testing.T) {
	w := newCallsWorld(t, alltest.Names, nil)
	for _, env := range w.envs {
		r := env.tenant.Routing
		r.UnknownCaller = "contact"
		if err := env.db.UpdateRouting(context.Background(), env.tenant.ID, r); err != nil {
			t.Fatal(err)
		}
	}
	w.startWorker(t)
	w.each(t, testMissedAndUnknown)
}

func testMissedAndUnknown(t *testing.T, env *callsEnv) {
	env.mustPost(t, call("missed", customer, "", env.emps))
	env.mustPost(t, call("unknown", stranger, userAnna, env.emps))
	env.waitDelivered(t, 30*time.Second, "missed", "unknown")

	recs := env.crmCalls(t)
	missed := "Missed call from " + customer
	tasks := env.backend.Tasks()
	if env.canTask {
		if len(tasks) != 1 || tasks[0].Task.ResponsibleUserID != userAnna || tasks[0].Task.Entity == nil ||
			!strings.Contains(tasks[0].Task.Text, missed) {
			t.Errorf("tasks = %+v, want one missed-call task for %s", tasks, userAnna)
		}
	} else if m := recs["missed"]; len(tasks) != 0 || len(m) != 1 || !strings.Contains(m[0].Call.Comment, missed) {
		t.Errorf("tasks = %+v, missed call records %+v; want no task and the reminder in the note", tasks, m)
	}
	if m := recs["missed"]; len(m) != 1 || m[0].Call.Answered {
		t.Errorf("missed call records: %+v", m)
	}
	created := env.backend.Created()
	u := recs["unknown"]
	if !env.canCreate {
		if len(created) != 0 || len(u) != 1 || u[0].Call.Entity != nil {
			t.Errorf("created records %+v, unknown caller's call records %+v; want none created and the call on no record", created, u)
		}
		return
	}
	if len(created) != 1 || created[0].Kind != connectors.KindContact || created[0].Phones[0] != stranger ||
		created[0].ResponsibleUserID != userAnna {
		t.Fatalf("created records = %+v, want a contact for %s owned by who answered", created, stranger)
	}
	if len(u) != 1 || u[0].Call.Entity == nil || u[0].Call.Entity.ID != created[0].ID {
		t.Errorf("unknown caller's call records: %+v, want on contact %s", u, created[0].ID)
	}
}

// TestCalls_ConcurrentRepeats posts the same event five times at once:
// one is accepted, four are 200 no-ops, and the CRM is written once.
func TestCalls_ConcurrentRepeats(t *testing.T) {
	w := newCallsWorld(t, alltest.Names, nil)
	w.startWorker(t)
	w.each(t, testConcurrentRepeats)
}

func testConcurrentRepeats(t *testing.T, env *callsEnv) {
	event := call("dup", customer, userAnna, env.emps)[2] // call.finished, with the call's numbers
	event["direction"], event["caller"], event["callee"] = "inbound", customer, ourDID
	outcomes := make(chan string, 5)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, out := env.post(t, event)
			results, _ := out["results"].([]any)
			if status != http.StatusOK || len(results) != 1 {
				t.Errorf("post: %d %v", status, out)
				return
			}
			outcomes <- results[0].(map[string]any)["status"].(string)
		}()
	}
	wg.Wait()
	close(outcomes)
	count := map[string]int{}
	for o := range outcomes {
		count[o]++
	}
	if diff := cmp.Diff(map[string]int{"accepted": 1, "duplicate": 4}, count); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	env.waitDelivered(t, 30*time.Second, "dup")
	if recs := env.crmCalls(t)["dup"]; len(recs) != 1 || recs[0].Writes != 1 {
		t.Errorf("CRM records: %+v, want one written once", recs)
	}
	if n := env.crm.Writes(); n != 1 {
		t.Errorf("%d CRM writes, want 1", n)
	}
}

// TestCalls_RefusedPosts: unsigned, badly signed, replayed and malformed
// posts are refused with a message that says what to fix, and nothing is
// stored (the real database is checked).
func TestCalls_RefusedPosts(t *testing.T) {
	env := intakeEnv(t)
	good, _ := json.Marshal(call("r1", customer, userAnna, env.emps)[0])
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
	sign := func(ts string, body []byte) string { return web.Sign(env.creds.SigningSecret, ts, body) }
	for _, tc := range []struct {
		name, ts, sig string
		body          []byte
		status        int
		message       string
	}{
		{"Unsigned", "", "", good, 401, "the request is not signed"},
		{"NoTimestamp", "", sign(now, good), good, 401, "missing X-Crmsync-Timestamp"},
		{"BadSignature", now, sign(now, []byte("something else")), good, 401, "X-Crmsync-Signature does not match"},
		{"WrongSecret", now, web.Sign("not the secret", now, good), good, 401, "does not match"},
		{"NotHex", now, "sha256=zz", good, 401, "must be sha256=<64 hex digits>"},
		{"Replayed", old, sign(old, good), good, 401, "outside the 5m0s window"},
		{"Malformed", now, sign(now, []byte(`{"call_id": "r1",`)), []byte(`{"call_id": "r1",`), 400, "malformed JSON"},
		{"NotAnEvent", now, sign(now, []byte(`[1, 2]`)), []byte(`[1, 2]`), 400, `one event object or {"events"`},
		{"InvalidEvent", now, sign(now, []byte(`{"call_id":"r1","kind":"call.finished","seq":1,"occurred_at":"2025-01-01T00:00:00Z","duration_s":-5,"answered":true}`)),
			[]byte(`{"call_id":"r1","kind":"call.finished","seq":1,"occurred_at":"2025-01-01T00:00:00Z","duration_s":-5,"answered":true}`),
			400, "duration_s: must be a whole number of seconds from 0 to 86400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := env.do(t, tc.body, tc.ts, tc.sig)
			msg, _ := out["error"].(map[string]any)["message"].(string)
			if status != tc.status || !strings.Contains(msg, tc.message) {
				t.Errorf("= %d %q, want %d with %q", status, msg, tc.status, tc.message)
			}
		})
	}
	if events, calls := env.eventRows(t); events != 0 || calls != 0 {
		t.Errorf("stored %d events and %d calls, want none", events, calls)
	}
}

// TestCalls_BatchPerEvent: in a batch, bad events are rejected field by
// field and store nothing, the good ones are stored, and resending the
// batch after fixing it stores only what was missing.
func TestCalls_BatchPerEvent(t *testing.T) {
	env := intakeEnv(t)
	events := call("b1", customer, userAnna, env.emps)
	events[1]["employee_id"] = 999999 // no such employee
	events[3]["category"] = ""        // empty tag
	events[4]["duration_s"] = 5       // not a field of call.commented
	status, out := env.post(t, map[string]any{"events": events})
	if status != http.StatusBadRequest || out["accepted"] != 2.0 || out["rejected"] != 3.0 {
		t.Fatalf("post: %d %v", status, out)
	}
	var fields []string
	for _, e := range out["error"].(map[string]any)["errors"].([]any) {
		fields = append(fields, e.(map[string]any)["field"].(string))
	}
	want := []string{"events[3].category", "events[4].duration_s", "events[1].employee_id"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("error fields (-want +got):\n%s", diff)
	}
	if n, _ := env.eventRows(t); n != 2 {
		t.Errorf("%d events stored, want the 2 valid ones", n)
	}
	fixed := call("b1", customer, userAnna, env.emps)
	status, out = env.post(t, map[string]any{"events": fixed})
	if status != http.StatusOK || out["accepted"] != 3.0 || out["duplicates"] != 2.0 {
		t.Fatalf("resend: %d %v", status, out)
	}
}

// TestCalls_RedisFlushed flushes Redis while calls of every CRM are queued
// and one of each is being written: the Sweeper delivers every event, each
// once. The flush empties the one Redis database all CRMs share, so it is
// done once, with every CRM's write in flight.
func TestCalls_RedisFlushed(t *testing.T) {
	w := newCallsWorld(t, alltest.Names, nil)
	for _, env := range w.envs {
		env.backend.Inject(connectortest.Fault{Delay: 2 * time.Second}) // the first write is in flight at the flush
	}
	w.startWorker(t)
	var ids []string
	for i := range 20 {
		ids = append(ids, "flush-"+strconv.Itoa(i))
	}
	for _, id := range ids { // the CRMs' calls interleaved, as the worker takes them in order
		for _, env := range w.envs {
			env.mustPost(t, call(id, customer, userAnna, env.emps))
		}
	}
	start := time.Now()
	for _, env := range w.envs {
		waitFor(t, 30*time.Second, env.name+": a write in flight", func() bool { return env.backend.Requests("") > 0 })
		t.Logf("%s: first request after %s", env.name, time.Since(start))
	}
	if err := w.rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	w.startSweeper(t, 2*time.Second)
	w.each(t, func(t *testing.T, env *callsEnv) {
		env.waitDelivered(t, 60*time.Second, ids...)
		recs := env.crmCalls(t)
		for _, id := range ids {
			if len(recs[id]) != 1 {
				t.Errorf("call %s: %d CRM records, want 1", id, len(recs[id]))
			}
		}
	})
}

// outage makes a CRM fake answer 500, or hang until the outage ends (a
// timeout), for every API request until a time; its OAuth endpoints stay
// up.
type outage struct {
	mu     sync.Mutex
	until  time.Time
	failed int
}

func (o *outage) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		down := time.Now().Before(o.until) && !strings.HasPrefix(r.URL.Path, "/oauth")
		hang := down && o.failed%3 == 0
		if down {
			o.failed++
		}
		end := o.until
		o.mu.Unlock()
		switch {
		case hang: // a timeout: hold the request until the outage ends or the client gives up
			select {
			case <-time.After(time.Until(end)):
			case <-r.Context().Done():
			}
			http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
		case down:
			http.Error(w, "internal error", http.StatusInternalServerError)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (o *outage) start(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.until = time.Now().Add(d)
}

func (o *outage) over() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return time.Now().After(o.until)
}

// TestCalls_CRMOutage: the CRM answers 500 or hangs for 60 s while calls
// come in; once it is back every event is delivered, each call is one
// record holding its last state, and each call's events were delivered in
// seq order. Every CRM is down at once, for the one worker.
func TestCalls_CRMOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a 60-second outage; skipped in -short mode")
	}
	outages := map[string]*outage{}
	w := newCallsWorld(t, alltest.Names, func(crm string, next http.Handler) http.Handler {
		outages[crm] = &outage{}
		return outages[crm].wrap(next)
	})
	w.startWorker(t)
	w.each(t, func(t *testing.T, env *callsEnv) {
		out := outages[env.name]
		out.start(60 * time.Second)
		var ids []string
		for i := range 10 {
			id := "down-" + strconv.Itoa(i)
			ids = append(ids, id)
			env.mustPost(t, call(id, customer, userAnna, env.emps)[:3])
		}
		time.Sleep(5 * time.Second) // the tags and comments come later, still in the outage
		for _, id := range ids {
			env.mustPost(t, call(id, customer, userAnna, env.emps)[3:])
		}
		waitFor(t, 70*time.Second, "the outage", out.over)
		env.waitDelivered(t, 120*time.Second, ids...)
		recs := env.crmCalls(t)
		for _, id := range ids {
			r := recs[id]
			if len(r) != 1 || noteOf(r[0].Call) != env.tagged("wants a quote") || !r[0].Call.Answered {
				t.Errorf("call %s: CRM records %+v, want one with the final state", id, r)
				continue
			}
			var last time.Time
			for _, e := range env.status(t, id).Events {
				if e.DeliveredAt == nil || e.DeliveredAt.Before(last) {
					t.Errorf("call %s: event %s delivered at %v, before an earlier event (%v)", id, e.Kind, e.DeliveredAt, last)
					continue
				}
				last = *e.DeliveredAt
			}
		}
		out.mu.Lock()
		t.Logf("%d requests failed during the outage", out.failed)
		out.mu.Unlock()
	})
}

// refusal makes a CRM fake answer 401 to every API request while on; its
// OAuth endpoints stay up, so a refresh succeeds and its token is refused
// too, however many refreshes the connector tries.
type refusal struct{ on atomic.Bool }

func (f *refusal) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.on.Load() && !strings.HasPrefix(r.URL.Path, "/oauth") {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestCalls_UnauthorizedParks: a token the CRM refuses even after a
// refresh marks the account needs_relink and parks its events (not
// failed, nothing archived); relinking it resumes and delivers them.
func TestCalls_UnauthorizedParks(t *testing.T) {
	refusals := map[string]*refusal{}
	w := newCallsWorld(t, alltest.Names, func(crm string, next http.Handler) http.Handler {
		refusals[crm] = &refusal{}
		refusals[crm].on.Store(true)
		return refusals[crm].wrap(next)
	})
	for _, env := range w.envs {
		env.route(t, "p1") // no lookup: the 401s are the write's
	}
	w.startWorker(t)
	w.startSweeper(t, time.Minute)
	w.each(t, func(t *testing.T, env *callsEnv) {
		env.mustPost(t, call("p1", customer, userAnna, env.emps))
		waitFor(t, 30*time.Second, "the events parked", func() bool { return env.status(t, "p1").Status == jobs.EventParked })
		a, err := env.db.Account(context.Background(), env.tenant.ID, env.acct.ID)
		if err != nil || a.Status != connectors.StatusNeedsRelink {
			t.Fatalf("account = %+v, %v; want needs_relink", a, err)
		}
		if archived := env.archived(t); len(archived) != 0 {
			t.Errorf("%d archived tasks, want none: parked is not failed", len(archived))
		}
		refusals[env.name].on.Store(false)
		env.link(t, time.Now().Add(time.Hour))
		env.waitDelivered(t, 30*time.Second, "p1")
		if recs := env.crmCalls(t)["p1"]; len(recs) != 1 {
			t.Errorf("CRM records after the relink: %+v", recs)
		}
	})
}

// TestCalls_ArchivedRerun: a write the CRM refuses as invalid is not
// retried: its task is archived with the reason and its events are
// failed; re-running the task from the dashboard delivers them.
func TestCalls_ArchivedRerun(t *testing.T) {
	w := newCallsWorld(t, alltest.Names, nil)
	for _, env := range w.envs {
		env.backend.Inject(connectortest.Fault{Status: http.StatusBadRequest})
	}
	w.startWorker(t)
	w.each(t, func(t *testing.T, env *callsEnv) {
		env.mustPost(t, call("a1", customer, userAnna, env.emps))
		waitFor(t, 30*time.Second, "the events failed", func() bool { return env.status(t, "a1").Status == jobs.EventFailed })
		if e := env.status(t, "a1").Events[0]; !strings.Contains(e.LastError, "rejected by crm") || e.Attempts != 1 {
			t.Errorf("failed event: %+v, want the CRM's refusal after one attempt", e)
		}
		var archived []*asynq.TaskInfo
		waitFor(t, 10*time.Second, "the archived task", func() bool {
			archived = env.archived(t)
			return len(archived) == 1
		})
		if !strings.Contains(archived[0].LastErr, "rejected by crm") || archived[0].Retried != 0 {
			t.Errorf("archived task: %s retried %d: %s", archived[0].Type, archived[0].Retried, archived[0].LastErr)
		}
		insp := asynq.NewInspector(redisOpt(t, env.redisURL))
		defer insp.Close()
		if err := insp.RunTask(jobs.QueueCritical, archived[0].ID); err != nil {
			t.Fatal(err)
		}
		env.waitDelivered(t, 30*time.Second, "a1")
		if recs := env.crmCalls(t)["a1"]; len(recs) != 1 {
			t.Errorf("CRM records: %+v", recs)
		}
	})
}

// TestCalls_RateLimited: 429s past what the transport waits out come back
// as rate limits: the call is retried after Retry-After without counting
// an attempt, and delivered.
func TestCalls_RateLimited(t *testing.T) {
	w := newCallsWorld(t, alltest.Names, nil)
	for _, env := range w.envs {
		env.route(t, "rl") // no lookup: the 429s are the write's
		env.backend.Inject(connectortest.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 4})
	}
	w.startWorker(t)
	w.each(t, func(t *testing.T, env *callsEnv) {
		env.mustPost(t, call("rl", customer, userAnna, env.emps))
		env.waitDelivered(t, 30*time.Second, "rl")
		for _, e := range env.status(t, "rl").Events {
			if e.Attempts != 0 {
				t.Errorf("event %s: %d attempts, want 0: throttling is not a failure", e.Kind, e.Attempts)
			}
		}
		if recs := env.crmCalls(t)["rl"]; len(recs) != 1 || recs[0].Writes != 1 {
			t.Errorf("CRM records: %+v, want one written once", recs)
		}
		if n := env.crm.Writes(); n != 5 {
			t.Errorf("%d write requests, want 4 throttled and 1 written", n)
		}
	})
}

// plainConns hides the connector's optional capabilities but LogCall's:
// a CRM without batch writes or tasks.
type plainConns struct{ r *connectors.Resolver }

type plainConnector struct{ connectors.Connector }

func (p plainConns) ConnectorFor(ctx context.Context, id int64) (connectors.Connector, error) {
	c, err := p.r.ConnectorFor(ctx, id)
	if err != nil {
		return nil, err
	}
	return plainConnector{c}, nil
}

// TestCalls_PlainConnector: a CRM without batch writes gets each call
// written alone by its delivery task, and without tasks the missed-call
// reminder goes into the call's note.
func TestCalls_PlainConnector(t *testing.T) {
	w := newCallsWorld(t, alltest.Names, nil)
	w.handler.Connections = plainConns{w.resolver}
	w.startWorker(t)
	w.each(t, testPlainConnector)
}

func testPlainConnector(t *testing.T, env *callsEnv) {
	env.mustPost(t, call("plain", customer, "", env.emps))
	env.waitDelivered(t, 30*time.Second, "plain")
	recs := env.crmCalls(t)["plain"]
	if len(recs) != 1 || !strings.Contains(recs[0].Call.Comment, "Missed call from "+customer) {
		t.Errorf("CRM records: %+v, want one noting the missed call", recs)
	}
	if n := len(env.backend.Tasks()); n != 0 {
		t.Errorf("%d tasks, want none from a CRM without tasks", n)
	}
}

var _ jobs.CallStore = (*store.DB)(nil)
var _ web.CallStore = (*store.DB)(nil)
var _ web.CallQueue = (*jobs.Enqueuer)(nil)
