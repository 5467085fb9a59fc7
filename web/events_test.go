package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/telephony"
)

// evTenants knows one API key, "key-1", of tenant 1 (region UA).
type evTenants struct{}

func (evTenants) TenantByAPIKey(_ context.Context, key string) (telephony.Tenant, error) {
	if key == "key-1" {
		return telephony.Tenant{ID: 1, Region: "UA"}, nil
	}
	return telephony.Tenant{}, telephony.Errorf(telephony.EUnauthorized, "", "invalid API key")
}

func (evTenants) Tenant(_ context.Context, id int64) (telephony.Tenant, error) {
	return telephony.Tenant{ID: id, Region: "UA"}, nil
}

func (evTenants) UpdateRouting(context.Context, int64, telephony.Routing) error { return nil }

const evSecret = "css_test-secret"

// evStore is an in-memory CallStore: it keeps the events it was given,
// and repeats of an idempotency key are duplicates.
type evStore struct {
	mu     sync.Mutex
	events []jobs.CallEvent
	keys   map[string]bool
	status map[string]jobs.CallStatus
	// unknownEmployee is rejected as the real store would.
	unknownEmployee int64
}

func (s *evStore) SigningSecret(context.Context, int64) (string, error) { return evSecret, nil }

func (s *evStore) RecordCallEvents(_ context.Context, tenantID int64, events []jobs.CallEvent) (jobs.Recorded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]bool{}
	}
	rec := jobs.Recorded{Errors: map[int]*telephony.Error{}}
	for i, e := range events {
		switch {
		case s.unknownEmployee != 0 && e.EmployeeID == s.unknownEmployee:
			rec.Outcomes = append(rec.Outcomes, jobs.Rejected)
			rec.Errors[i] = telephony.Errorf(telephony.EInvalid, "employee_id", "employee %d does not exist", e.EmployeeID)
		case s.keys[e.IdempotencyKey()]:
			rec.Outcomes = append(rec.Outcomes, jobs.Duplicate)
		default:
			s.keys[e.IdempotencyKey()] = true
			s.events = append(s.events, e)
			rec.Outcomes = append(rec.Outcomes, jobs.Accepted)
			rec.Calls = append(rec.Calls, jobs.CallKey{TenantID: tenantID, RowID: int64(len(s.events)), CallID: e.CallID, Gen: int64(len(s.events))})
		}
	}
	return rec, nil
}

func (s *evStore) CallStatus(_ context.Context, _ int64, callID string) (jobs.CallStatus, error) {
	cs, ok := s.status[callID]
	if !ok {
		return jobs.CallStatus{}, telephony.Errorf(telephony.ENotFound, "", "call %q not found", callID)
	}
	return cs, nil
}

func (s *evStore) stored() []jobs.CallEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]jobs.CallEvent(nil), s.events...)
}

// evQueue records enqueued calls; err, when set, is what it returns.
type evQueue struct {
	mu   sync.Mutex
	keys []jobs.CallKey
	err  error
}

func (q *evQueue) EnqueueCalls(_ context.Context, keys []jobs.CallKey) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.keys = append(q.keys, keys...)
	return q.err
}

type evServer struct {
	store *evStore
	queue *evQueue
	srv   *httptest.Server
	now   time.Time
}

func newEvServer(t *testing.T) *evServer {
	t.Helper()
	s := &evServer{store: &evStore{}, queue: &evQueue{}, now: time.Now()}
	events := &Events{Calls: s.store, Queue: s.queue, Now: func() time.Time { return s.now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.srv = httptest.NewServer(events.Handler(evTenants{}))
	t.Cleanup(s.srv.Close)
	return s
}

// post sends body signed at ts with secret ("" leaves the header out).
func (s *evServer) post(t *testing.T, body string, ts, sig string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.srv.URL+"/api/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer key-1")
	if ts != "" {
		req.Header.Set(HeaderTimestamp, ts)
	}
	if sig != "" {
		req.Header.Set(HeaderSignature, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// signed posts body signed now with the tenant's secret.
func (s *evServer) signed(t *testing.T, body string) (int, map[string]any) {
	t.Helper()
	ts := strconv.FormatInt(s.now.Unix(), 10)
	return s.post(t, body, ts, Sign(evSecret, ts, []byte(body)))
}

const evFinished = `{"call_id":"c1","kind":"call.finished","seq":3,"occurred_at":"2025-03-04T10:01:05Z",` +
	`"duration_s":60,"answered":true,"recording_url":"https://pbx.example/r/1.mp3"}`

func evErrMessage(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

func TestEvents_Signature(t *testing.T) {
	s := newEvServer(t)
	now := strconv.FormatInt(s.now.Unix(), 10)
	sig := Sign(evSecret, now, []byte(evFinished))
	for _, tc := range []struct {
		name, ts, sig, want string
	}{
		{"Unsigned", "", "", "the request is not signed"},
		{"NoSignature", now, "", "missing X-Crmsync-Signature"},
		{"NoTimestamp", "", sig, "missing X-Crmsync-Timestamp"},
		{"TimestampNotANumber", "yesterday", sig, "must be unix seconds"},
		{"NotSHA256", now, "md5=abc", "must be sha256=<64 hex digits>"},
		{"ShortDigest", now, "sha256=abcd", "must be sha256=<64 hex digits>"},
		{"WrongSecret", now, Sign("other", now, []byte(evFinished)), "does not match"},
		{"OtherTimestampSigned", now, Sign(evSecret, now+"0", []byte(evFinished)), "does not match"},
		{"Old", strconv.FormatInt(s.now.Add(-301*time.Second).Unix(), 10),
			Sign(evSecret, strconv.FormatInt(s.now.Add(-301*time.Second).Unix(), 10), []byte(evFinished)), "5m1s off our clock"},
		{"Future", strconv.FormatInt(s.now.Add(10*time.Minute).Unix(), 10),
			Sign(evSecret, strconv.FormatInt(s.now.Add(10*time.Minute).Unix(), 10), []byte(evFinished)), "outside the 5m0s window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := s.post(t, evFinished, tc.ts, tc.sig)
			if status != http.StatusUnauthorized || !strings.Contains(evErrMessage(out), tc.want) {
				t.Errorf("= %d %q, want 401 with %q", status, evErrMessage(out), tc.want)
			}
		})
	}
	if n := len(s.store.stored()); n != 0 {
		t.Fatalf("%d events stored from refused requests", n)
	}

	t.Run("OK", func(t *testing.T) {
		status, out := s.post(t, evFinished, now, sig)
		if status != http.StatusOK || out["accepted"] != 1.0 {
			t.Fatalf("= %d %v", status, out)
		}
		// The same signed request again, inside the window: a no-op.
		status, out = s.post(t, evFinished, now, sig)
		if status != http.StatusOK || out["duplicates"] != 1.0 || out["accepted"] != 0.0 {
			t.Errorf("replay inside the window = %d %v, want a 200 duplicate", status, out)
		}
		if n := len(s.store.stored()); n != 1 {
			t.Errorf("%d events stored, want 1", n)
		}
		if n := len(s.queue.keys); n != 1 {
			t.Errorf("%d calls queued, want 1", n)
		}
	})
	t.Run("ErrUnauthorizedKey", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.srv.URL+"/api/v1/events", strings.NewReader(evFinished))
		req.Header.Set(HeaderTimestamp, now)
		req.Header.Set(HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("without an API key: %s", resp.Status)
		}
	})
}

func TestEvents_Bodies(t *testing.T) {
	s := newEvServer(t)
	many := `{"events":[` + strings.TrimSuffix(strings.Repeat(evFinished+",", MaxEvents+1), ",") + `]}`
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"Empty", ``, 400, "request body is empty"},
		{"Malformed", `{"call_id":`, 400, "malformed JSON"},
		{"Array", `[` + evFinished + `]`, 400, `one event object or {"events"`},
		{"String", `"hello"`, 400, `one event object or {"events"`},
		{"TwoValues", evFinished + evFinished, 400, `one event object or {"events"`},
		{"BatchWithExtras", `{"events":[` + evFinished + `],"x":1}`, 400, `no other fields`},
		{"EventsNotArray", `{"events":{}}`, 400, "must be an array of event objects"},
		{"NoEvents", `{"events":[]}`, 400, "is empty; send at least one event"},
		{"TooMany", many, 400, "send at most 500"},
		{"TooLarge", `{"text":"` + strings.Repeat("x", maxBody) + `"}`, 413, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := s.signed(t, tc.body)
			if status != tc.status || !strings.Contains(evErrMessage(out), tc.want) {
				t.Errorf("= %d %q, want %d with %q", status, evErrMessage(out), tc.status, tc.want)
			}
		})
	}
	if n := len(s.store.stored()); n != 0 {
		t.Errorf("%d events stored", n)
	}
}

func TestEvents_Batch(t *testing.T) {
	s := newEvServer(t)
	s.store.unknownEmployee = 77
	body := `{"events":[
		{"call_id":"c1","kind":"call.started","seq":1,"occurred_at":"2025-03-04T10:00:00Z","direction":"inbound","caller":"067 111 22 33","did":"+380441234567"},
		{"call_id":"c1","kind":"call.answered","seq":2,"occurred_at":"2025-03-04T10:00:05Z","employee_id":77},
		{"call_id":"c1","kind":"call.finished","seq":"3","occurred_at":"yesterday","duration_s":1.5,"answered":"yes","text":"hi"},
		"not an event",
		{"call_id":"c1","kind":"call.tagged","seq":4,"occurred_at":"2025-03-04T10:01:30Z","category":"sales","colour":"red"}
	]}`
	status, out := s.signed(t, body)
	if status != http.StatusBadRequest {
		t.Fatalf("= %d %v", status, out)
	}
	var results []string
	for _, r := range out["results"].([]any) {
		results = append(results, r.(map[string]any)["status"].(string))
	}
	if diff := cmp.Diff([]string{"accepted", "rejected", "rejected", "rejected", "rejected"}, results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	type fieldErr struct {
		Index          int
		Field, Message string
	}
	var got []fieldErr
	for _, e := range out["error"].(map[string]any)["errors"].([]any) {
		m := e.(map[string]any)
		got = append(got, fieldErr{int(m["index"].(float64)), m["field"].(string), m["message"].(string)})
	}
	want := []fieldErr{
		{2, "events[2].seq", "must be a whole number ≥ 0"},
		{2, "events[2].occurred_at", `must be an RFC 3339 time such as "2025-01-02T15:04:05Z"`},
		{2, "events[2].duration_s", "must be a whole number of seconds from 0 to 86400"},
		{2, "events[2].answered", "must be true or false"},
		{2, "events[2].text", "is not a field of call.finished events (it belongs to call.commented)"},
		{3, "events[3]", "must be a JSON object"},
		{4, "events[4].colour", "unknown field"},
		{1, "events[1].employee_id", "employee 77 does not exist"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if msg := evErrMessage(out); msg != "4 of 5 events rejected (nothing of them was stored); the others were stored" {
		t.Errorf("message = %q", msg)
	}
	stored := s.store.stored()
	if len(stored) != 1 || stored[0].Caller != "+380671112233" || stored[0].Callee != "+380441234567" {
		t.Errorf("stored = %+v, want the started event with E.164 numbers", stored)
	}
}

// TestEvents_QueueDown: when Redis is down the events are stored and the
// PBX gets its 200; the Sweeper delivers them later.
func TestEvents_QueueDown(t *testing.T) {
	s := newEvServer(t)
	s.queue.err = errors.New("redis: connection refused")
	status, out := s.signed(t, evFinished)
	if status != http.StatusOK || out["accepted"] != 1.0 || len(s.store.stored()) != 1 {
		t.Errorf("= %d %v", status, out)
	}
}
