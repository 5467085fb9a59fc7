package hubspot_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

func seeded(t testing.TB) (*connectortest.Backend, *fake) {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	return b, mustFake(t, b)
}

func testCall(n int, entity *connectors.EntityRef) connectors.CallActivity {
	return connectors.CallActivity{
		ExternalCallID: "call-" + strconv.Itoa(n),
		Direction:      connectors.Inbound,
		From:           connectortest.Phone,
		To:             "+74950000001",
		StartedAt:      time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC),
		Duration:       time.Duration(n) * time.Second,
		Answered:       true,
		AnsweredBy:     "2",
		Responsible:    "3",
		Entity:         entity,
		RecordingURL:   "https://rec.example.com/" + strconv.Itoa(n) + ".mp3",
	}
}

func TestClient_LogCall(t *testing.T) {
	for _, e := range []connectors.EntityRef{
		{Kind: connectors.KindContact, ID: "10001"},
		{Kind: connectors.KindDeal, ID: "20001"},
		{Kind: connectors.KindLead, ID: "30001"},
	} {
		t.Run("OK/"+string(e.Kind), func(t *testing.T) {
			b, f := seeded(t)
			call := testCall(95, &e)
			ref, err := f.client.LogCall(ctx(t), call)
			if err != nil {
				t.Fatalf("LogCall: %v", err)
			}
			rec, ok := b.Call(ref.ID)
			if !ok {
				t.Fatalf("no call %s in the backend", ref.ID)
			}
			want := call
			want.Responsible = "2" // one owner field: who answered
			if diff := cmp.Diff(want, rec.Call); diff != "" {
				t.Errorf("recorded call mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("Missed", func(t *testing.T) {
		b, f := seeded(t)
		call := testCall(0, nil)
		call.Answered, call.AnsweredBy = false, ""
		call.Category, call.Value, call.Comment = "no answer", "0", "<b>call back</b> & apologise"
		ref, err := f.client.LogCall(ctx(t), call)
		if err != nil {
			t.Fatalf("LogCall: %v", err)
		}
		rec, _ := b.Call(ref.ID)
		got := rec.Call
		if got.Answered || got.AnsweredBy != "" || got.Responsible != "3" || got.Entity != nil {
			t.Errorf("recorded %+v, want a missed call owned by the responsible manager", got)
		}
		if want := "Category: no answer\nValue: 0\n<b>call back</b> & apologise"; got.Comment != want {
			t.Errorf("comment = %q, want %q", got.Comment, want)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, f := seeded(t)
		call := testCall(1, nil)
		call.Ref = connectors.CallRef{ID: "987654"}
		_, err := f.client.LogCall(ctx(t), call)
		if !errors.Is(err, connectors.ErrNotFound) || !errors.Is(err, connectors.ErrInvalid) {
			t.Fatalf("err = %v, want ErrNotFound and ErrInvalid", err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, f := seeded(t)
		call := testCall(1, &connectors.EntityRef{Kind: connectors.KindContact, ID: "20001"}) // a deal
		_, err := f.client.LogCall(ctx(t), call)
		if !errors.Is(err, connectors.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

func TestClient_LogCalls(t *testing.T) {
	t.Run("OrderAndRefs", func(t *testing.T) {
		b, f := seeded(t)
		calls := make([]connectors.CallActivity, 230) // three create requests
		for i := range calls {
			calls[i] = testCall(i+1, &connectors.EntityRef{Kind: connectors.KindContact, ID: "10001"})
		}
		res, err := f.client.LogCalls(ctx(t), calls)
		if err != nil {
			t.Fatalf("LogCalls: %v", err)
		}
		if n := b.Requests("POST /crm/v3/objects/calls/batch/create"); n != 3 {
			t.Errorf("%d batch requests, want 3", n)
		}
		for i, r := range res {
			rec, ok := b.Call(r.Ref.ID)
			if r.Err != nil || !ok || rec.Call.ExternalCallID != calls[i].ExternalCallID {
				t.Fatalf("result %d = %+v names call %+v; want %s", i, r, rec.Call, calls[i].ExternalCallID)
			}
		}
	})
	t.Run("PerCallErrNotFound", func(t *testing.T) {
		b, f := seeded(t)
		first, err := f.client.LogCall(ctx(t), testCall(1, nil))
		if err != nil {
			t.Fatal(err)
		}
		upd := []connectors.CallActivity{testCall(1, nil), testCall(2, nil), testCall(3, nil)}
		upd[0].Ref, upd[0].Comment = first, "updated"
		upd[1].Ref = connectors.CallRef{ID: "987654"}
		res, err := f.client.LogCalls(ctx(t), upd)
		if err != nil {
			t.Fatalf("LogCalls: %v", err)
		}
		if res[0].Err != nil || res[0].Ref.ID != first.ID {
			t.Errorf("update result = %+v, want ref %v", res[0], first)
		}
		if !errors.Is(res[1].Err, connectors.ErrNotFound) {
			t.Errorf("unknown ref result = %+v, want ErrNotFound", res[1])
		}
		if res[2].Err != nil || res[2].Ref.ID == "" {
			t.Errorf("create result = %+v", res[2])
		}
		if rec, _ := b.Call(first.ID); rec.Call.Comment != "updated" || rec.Writes != 2 {
			t.Errorf("updated call = %+v", rec)
		}
	})
	t.Run("LaterRequestFails", func(t *testing.T) {
		b, f := seeded(t)
		calls := make([]connectors.CallActivity, 101)
		for i := range calls {
			calls[i] = testCall(i+1, nil)
		}
		b.Inject(connectortest.Fault{}) // the first batch goes through
		b.Inject(connectortest.Fault{Status: 503})
		res, err := f.client.LogCalls(ctx(t), calls)
		if err != nil {
			t.Fatalf("LogCalls: %v (the first batch was written: its refs must come back)", err)
		}
		if res[0].Ref.ID == "" || res[99].Ref.ID == "" || res[100].Err == nil {
			t.Errorf("results: first %+v, last of batch %+v, failed %+v", res[0], res[99], res[100])
		}
	})
}
