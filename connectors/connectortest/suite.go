package connectortest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
)

// Options configures Run.
type Options struct {
	// Name is the connector's registry name; Run reads Info.Kinds from the
	// registry, so the connector package must be linked into the test.
	Name string
	// Kinds, when set, replaces Info.Kinds (for connectors that are not
	// registered, such as Fake).
	Kinds map[connectors.EntityKind]string
}

// NewFunc builds the connector under test against a fake that serves b.
// It registers its cleanup (closing the server) with t.
type NewFunc func(t *testing.T, b *Backend) connectors.Connector

// Run is the conformance suite: every connector passes it against its own
// fake. Each subtest gets a freshly seeded Backend (see Seed) and a new
// connector from newConn.
func Run(t *testing.T, opts Options, newConn NewFunc) {
	t.Helper()
	kinds := opts.Kinds
	if kinds == nil {
		info, err := connectors.Lookup(opts.Name)
		if err != nil {
			t.Fatalf("connectortest: %v (is the connector package imported?)", err)
		}
		kinds = info.Kinds
	}
	setup := func(t *testing.T) (*Backend, connectors.Connector) {
		t.Helper()
		b := NewBackend()
		Seed(b)
		return b, newConn(t, b)
	}
	s := &suite{kinds: kinds, setup: setup}
	t.Run("ListUsers", s.listUsers)
	t.Run("FindByPhone", s.findByPhone)
	t.Run("LogCall", s.logCall)
	t.Run("LogCalls", s.logCalls)
	t.Run("CreateTask", s.createTask)
	t.Run("CreateEntity", s.createEntity)
	t.Run("CountOwned", s.countOwned)
	t.Run("Errors", s.errorKinds)
}

type suite struct {
	kinds map[connectors.EntityKind]string
	setup func(t *testing.T) (*Backend, connectors.Connector)
}

// supported returns the kinds the connector supports, contact first.
func (s *suite) supported() []connectors.EntityKind {
	var out []connectors.EntityKind
	for _, k := range []connectors.EntityKind{connectors.KindContact, connectors.KindDeal, connectors.KindLead} {
		if _, ok := s.kinds[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) listUsers(t *testing.T) {
	b, c := s.setup(t)
	got, err := c.ListUsers(ctxFor(t))
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	type user struct {
		ID, Name, Email string
		Active          bool
	}
	conv := func(us []connectors.User) []user {
		out := make([]user, len(us))
		for i, u := range us {
			out[i] = user{u.ID, u.Name, u.Email, u.Active}
		}
		slices.SortFunc(out, func(a, b user) int { return strings.Compare(a.ID, b.ID) })
		return out
	}
	if diff := cmp.Diff(conv(b.Users()), conv(got)); diff != "" {
		t.Errorf("ListUsers mismatch (-want +got):\n%s", diff)
	}
}

func matches(es []connectors.Entity) []Match {
	out := make([]Match, len(es))
	for i, e := range es {
		out[i] = Match{e.Kind, e.ID, e.ResponsibleUserID, e.Closed}
	}
	slices.SortFunc(out, func(a, b Match) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *suite) findByPhone(t *testing.T) {
	for _, kind := range []connectors.EntityKind{connectors.KindContact, connectors.KindDeal, connectors.KindLead} {
		t.Run(string(kind), func(t *testing.T) {
			_, c := s.setup(t)
			got, err := c.FindByPhone(ctxFor(t), kind, Phone)
			if _, ok := s.kinds[kind]; !ok {
				if err != nil && !errors.Is(err, connectors.ErrUnsupported) {
					t.Fatalf("unsupported kind: err = %v, want ErrUnsupported or nil", err)
				}
				if len(got) != 0 {
					t.Fatalf("unsupported kind: got %v, want nothing", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("FindByPhone: %v", err)
			}
			if diff := cmp.Diff(Want(kind), matches(got)); diff != "" {
				t.Errorf("FindByPhone(%s, %s) mismatch (-want +got):\n%s", kind, Phone, diff)
			}
			none, err := c.FindByPhone(ctxFor(t), kind, UnknownPhone)
			if err != nil || len(none) != 0 {
				t.Errorf("FindByPhone(unknown) = %v, %v; want empty, nil", none, err)
			}
		})
	}
}

// testCall is the call the suite writes; n makes it unique.
func (s *suite) testCall(n string) connectors.CallActivity {
	kind := s.supported()[0]
	id := Want(kind)[0].ID
	return connectors.CallActivity{
		ExternalCallID: "call-" + n,
		Direction:      connectors.Inbound,
		From:           Phone,
		To:             "+74950000001",
		StartedAt:      time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC),
		Duration:       95 * time.Second,
		Answered:       true,
		AnsweredBy:     "2",
		Responsible:    "2",
		Entity:         &connectors.EntityRef{Kind: kind, ID: id},
		RecordingURL:   "https://rec.example.com/call-" + n + ".mp3",
	}
}

// checkCall compares what the fake recorded with what was written.
func checkCall(t *testing.T, rec CallRecord, want connectors.CallActivity, writes int) {
	t.Helper()
	got := rec.Call
	if rec.Writes != writes {
		t.Errorf("call %s: %d writes, want %d", rec.ID, rec.Writes, writes)
	}
	if got.Direction != want.Direction || got.Duration != want.Duration ||
		got.RecordingURL != want.RecordingURL || got.AnsweredBy != want.AnsweredBy {
		t.Errorf("call %s recorded as {%s %s %q answered by %q}, want {%s %s %q answered by %q}", rec.ID,
			got.Direction, got.Duration, got.RecordingURL, got.AnsweredBy,
			want.Direction, want.Duration, want.RecordingURL, want.AnsweredBy)
	}
	if want.Entity != nil && (got.Entity == nil || *got.Entity != *want.Entity) {
		t.Errorf("call %s recorded on %v, want %v", rec.ID, got.Entity, *want.Entity)
	}
	text := got.Category + " " + got.Value + " " + got.Comment
	for _, s := range []string{want.Category, want.Value, want.Comment} {
		if !strings.Contains(text, s) {
			t.Errorf("call %s: text %q lacks %q", rec.ID, text, s)
		}
	}
}

func (s *suite) logCall(t *testing.T) {
	b, c := s.setup(t)
	call := s.testCall("1")
	ref, err := c.LogCall(ctxFor(t), call)
	if err != nil {
		t.Fatalf("LogCall (create): %v", err)
	}
	if ref.ID == "" {
		t.Fatal("LogCall returned an empty CallRef")
	}
	calls := b.Calls()
	if len(calls) != 1 {
		t.Fatalf("after create: %d call records, want 1", len(calls))
	}
	checkCall(t, calls[0], call, 1)

	call.Ref = ref
	call.Category, call.Value, call.Comment = "sale", "1200", "Wants a callback"
	if _, err := c.LogCall(ctxFor(t), call); err != nil {
		t.Fatalf("LogCall (update): %v", err)
	}
	calls = b.Calls()
	if len(calls) != 1 {
		t.Fatalf("after update: %d call records, want 1 (update must not create)", len(calls))
	}
	checkCall(t, calls[0], call, 2)
}

func (s *suite) logCalls(t *testing.T) {
	b, c := s.setup(t)
	bl, ok := c.(connectors.BatchCallLogger)
	if !ok {
		t.Skip("no BatchCallLogger capability")
	}
	n := min(bl.MaxBatch()+2, 120) // more than one request where the batch is small
	calls := make([]connectors.CallActivity, n)
	for i := range calls {
		calls[i] = s.testCall(strings.Repeat("b", i+1))
	}
	res, err := bl.LogCalls(ctxFor(t), calls)
	if err != nil {
		t.Fatalf("LogCalls: %v", err)
	}
	if len(res) != n {
		t.Fatalf("LogCalls: %d results, want %d", len(res), n)
	}
	for i, r := range res {
		if r.Err != nil || r.Ref.ID == "" {
			t.Fatalf("LogCalls result %d = %+v, want a ref", i, r)
		}
	}
	if got := len(b.Calls()); got != n {
		t.Fatalf("after batch: %d call records, want %d", got, n)
	}
	// A second batch: two updates through the refs, one new call.
	upd := []connectors.CallActivity{calls[0], calls[1], s.testCall("new")}
	upd[0].Ref, upd[0].Comment = res[0].Ref, "first"
	upd[1].Ref, upd[1].Comment = res[1].Ref, "second"
	res2, err := bl.LogCalls(ctxFor(t), upd)
	if err != nil {
		t.Fatalf("LogCalls (updates): %v", err)
	}
	if len(res2) != 3 || res2[2].Ref.ID == "" {
		t.Fatalf("LogCalls (updates) = %+v", res2)
	}
	recs := b.Calls()
	if len(recs) != n+1 {
		t.Fatalf("after update batch: %d call records, want %d", len(recs), n+1)
	}
	checkCall(t, recs[0], upd[0], 2)
	checkCall(t, recs[1], upd[1], 2)
}

func (s *suite) createTask(t *testing.T) {
	b, c := s.setup(t)
	tc, ok := c.(connectors.TaskCreator)
	if !ok {
		t.Skip("no TaskCreator capability")
	}
	kind := s.supported()[0]
	task := connectors.Task{
		ResponsibleUserID: "2",
		Entity:            &connectors.EntityRef{Kind: kind, ID: Want(kind)[0].ID},
		Text:              "Missed call from " + Phone,
		Due:               time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC),
	}
	id, err := tc.CreateTask(ctxFor(t), task)
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	tasks := b.Tasks()
	if len(tasks) != 1 || tasks[0].ID != id {
		t.Fatalf("tasks = %+v, want one with id %q", tasks, id)
	}
	got := tasks[0].Task
	got.Due = got.Due.UTC()
	if diff := cmp.Diff(task, got); diff != "" {
		t.Errorf("task mismatch (-want +got):\n%s", diff)
	}
}

func (s *suite) createEntity(t *testing.T) {
	b, c := s.setup(t)
	ec, ok := c.(connectors.EntityCreator)
	if !ok {
		t.Skip("no EntityCreator capability")
	}
	const phone = "+79035550000"
	for _, kind := range s.supported() {
		e, err := ec.CreateEntity(ctxFor(t), connectors.NewEntity{
			Kind: kind, Title: "Caller " + phone, Phone: phone, ResponsibleUserID: "2"})
		if errors.Is(err, connectors.ErrUnsupported) {
			continue
		}
		if err != nil {
			t.Fatalf("CreateEntity(%s): %v", kind, err)
		}
		r, ok := b.Record(e.ID)
		if !ok || r.Kind != kind || r.ResponsibleUserID != "2" || e.Kind != kind {
			t.Fatalf("CreateEntity(%s) = %+v; backend has %+v, %v", kind, e, r, ok)
		}
	}
	if _, ok := s.kinds[connectors.KindContact]; ok {
		found, err := c.FindByPhone(ctxFor(t), connectors.KindContact, phone)
		if err != nil || len(found) == 0 {
			t.Errorf("FindByPhone after CreateEntity = %v, %v; want the new contact", found, err)
		}
	}
}

func (s *suite) countOwned(t *testing.T) {
	b, c := s.setup(t)
	oc, ok := c.(connectors.OwnedCounter)
	if !ok {
		t.Skip("no OwnedCounter capability")
	}
	for _, user := range []string{"2", "10", "14", "599"} {
		got, err := oc.CountOwned(ctxFor(t), user)
		if err != nil {
			t.Fatalf("CountOwned(%s): %v", user, err)
		}
		want := map[connectors.EntityKind]int{}
		for k, n := range b.CountOwned(user) {
			if _, ok := s.kinds[k]; ok {
				want[k] = n
			}
		}
		for k, n := range got {
			if n == 0 {
				delete(got, k)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CountOwned(%s) mismatch (-want +got):\n%s", user, diff)
		}
	}
}
