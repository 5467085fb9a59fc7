package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

func callEvent(callID string, kind jobs.EventKind, seq int64) jobs.CallEvent {
	e := jobs.CallEvent{CallID: callID, Kind: kind, Seq: seq, OccurredAt: time.Date(2025, 3, 4, 10, 0, int(seq), 0, time.UTC),
		Direction: connectors.Inbound, Caller: "+380671112233", Callee: "+380441234567"}
	switch kind {
	case jobs.EventFinished:
		d, yes := int64(60), true
		e.DurationS, e.Answered = &d, &yes
	case jobs.EventCommented:
		e.Text = "comment " + callID
	}
	return e
}

func TestDB_RecordCallEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tn, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Calls", Region: "UA"})
		if err != nil {
			t.Fatal(err)
		}
		emp, err := db.CreateEmployee(ctx, tn.ID, telephony.EmployeeInput{Email: "anna@corp.example", FullName: "Anna Koval"})
		if err != nil {
			t.Fatal(err)
		}
		answered := callEvent("c1", jobs.EventAnswered, 2)
		answered.EmployeeID = emp.ID
		stranger := callEvent("c2", jobs.EventAnswered, 2)
		stranger.EmployeeID = emp.ID + 1000

		rec, err := db.RecordCallEvents(ctx, tn.ID, []jobs.CallEvent{
			callEvent("c1", jobs.EventStarted, 1), answered, callEvent("c1", jobs.EventStarted, 1), stranger,
			callEvent("c2", jobs.EventFinished, 3),
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []jobs.RecordOutcome{jobs.Accepted, jobs.Accepted, jobs.Duplicate, jobs.Rejected, jobs.Accepted}
		if diff := cmp.Diff(want, rec.Outcomes); diff != "" {
			t.Errorf("outcomes (-want +got):\n%s", diff)
		}
		if e := rec.Errors[3]; e == nil || e.Field != "employee_id" {
			t.Errorf("errors = %v, want employee_id of event 3", rec.Errors)
		}
		if len(rec.Calls) != 2 || rec.Calls[0].CallID != "c1" || rec.Calls[1].CallID != "c2" {
			t.Fatalf("calls = %+v", rec.Calls)
		}

		t.Run("Repeat", func(t *testing.T) {
			again, err := db.RecordCallEvents(ctx, tn.ID, []jobs.CallEvent{callEvent("c1", jobs.EventStarted, 1),
				callEvent("c1", jobs.EventCommented, 4)})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]jobs.RecordOutcome{jobs.Duplicate, jobs.Accepted}, again.Outcomes); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if len(again.Calls) != 1 || again.Calls[0].RowID != rec.Calls[0].RowID || again.Calls[0].Gen <= rec.Calls[0].Gen {
				t.Errorf("calls = %+v, want c1 (row %d) with a newer generation than %d", again.Calls, rec.Calls[0].RowID, rec.Calls[0].Gen)
			}
		})

		t.Run("Status", func(t *testing.T) {
			cs, err := db.CallStatus(ctx, tn.ID, "c1")
			if err != nil {
				t.Fatal(err)
			}
			var kinds []jobs.EventKind
			for _, e := range cs.Events {
				kinds = append(kinds, e.Kind)
			}
			if diff := cmp.Diff([]jobs.EventKind{jobs.EventStarted, jobs.EventAnswered, jobs.EventCommented}, kinds); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if cs.Status != jobs.EventPending || !cs.Answered || cs.AnsweredByEmployee != emp.ID || cs.Comment != "comment c1" {
				t.Errorf("status = %+v", cs)
			}
			other, _, _ := db.CreateTenant(ctx, telephony.NewTenant{Name: "Other"})
			if _, err := db.CallStatus(ctx, other.ID, "c1"); !telephony.IsNotFound(err) {
				t.Errorf("another tenant's call: %v, want ENotFound", err)
			}
		})
	})
}

// TestDB_CallDelivery walks a call through the worker's queries: target,
// leases, ready calls, a delivery, parking and resuming, stuck calls.
func TestDB_CallDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		acct := storetest.MustAccount(t, db, "amocrm", "https://x.amocrm.ru", &oauth2.Token{AccessToken: "at"})
		rec, err := db.RecordCallEvents(ctx, acct.TenantID, []jobs.CallEvent{
			callEvent("c1", jobs.EventStarted, 1), callEvent("c1", jobs.EventFinished, 3), callEvent("c2", jobs.EventFinished, 3)})
		if err != nil {
			t.Fatal(err)
		}
		c1, c2 := rec.Calls[0].RowID, rec.Calls[1].RowID
		target := jobs.CallTarget{AccountID: acct.ID, Entity: &connectors.EntityRef{Kind: connectors.KindContact, ID: "77"}, Responsible: "5"}
		if got, err := db.SetCallTarget(ctx, c1, target); err != nil || !cmp.Equal(got, target) {
			t.Fatalf("SetCallTarget = %+v, %v", got, err)
		}
		other := jobs.CallTarget{AccountID: acct.ID}
		if got, _ := db.SetCallTarget(ctx, c1, other); !cmp.Equal(got, target) {
			t.Errorf("second SetCallTarget = %+v, want the first kept", got)
		}
		if _, err := db.SetCallTarget(ctx, c2, other); err != nil {
			t.Fatal(err)
		}

		until := time.Now().Add(time.Minute)
		if got, _ := db.ClaimCalls(ctx, []int64{c1}, "a", until); !slices.Equal(got, []int64{c1}) {
			t.Errorf("claim = %v", got)
		}
		if got, _ := db.ClaimCalls(ctx, []int64{c1, c2}, "b", until); !slices.Equal(got, []int64{c2}) {
			t.Errorf("claim by another = %v, want only the free call", got)
		}
		if got, _ := db.ClaimCalls(ctx, []int64{c1}, "a", until); !slices.Equal(got, []int64{c1}) {
			t.Errorf("claim again by its owner = %v", got)
		}
		if got, _ := db.ClaimReadyCalls(ctx, acct.ID, "c", until, 10); len(got) != 0 {
			t.Errorf("ready calls while leased = %v", got)
		}
		if err := db.ReleaseCalls(ctx, []int64{c1, c2}, "a"); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.ClaimReadyCalls(ctx, acct.ID, "c", until, 10); !slices.Equal(got, []int64{c1}) {
			t.Errorf("ready calls = %v, want c1 (c2 is still b's)", got)
		}

		ds, err := db.LoadCalls(ctx, []int64{c1})
		if err != nil || len(ds) != 1 || len(ds[0].Events) != 2 || !ds[0].Resolved {
			t.Fatalf("LoadCalls = %+v, %v", ds, err)
		}
		state := jobs.FoldCall(ds[0].Events)
		ref := connectors.CallRef{ID: "900", Extra: map[string]string{"entity_type": "contacts"}}
		err = db.SaveDeliveries(ctx, []jobs.CallUpdate{{RowID: c1, Ref: &ref, State: &state, Events: []jobs.EventUpdate{
			{ID: ds[0].Events[0].ID, Status: jobs.EventDelivered},
			{ID: ds[0].Events[1].ID, Status: jobs.EventDelivered, Ref: connectors.CallRef{Extra: map[string]string{"missed_task_id": "5"}}},
		}}, {RowID: c2, Events: []jobs.EventUpdate{{ID: rec.Calls[1].Gen, Status: jobs.EventPending, Error: "status 500"}}}})
		if err != nil {
			t.Fatal(err)
		}
		cs, err := db.CallStatus(ctx, acct.TenantID, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if cs.Status != jobs.EventDelivered || cs.CRM.Ref == nil || cs.CRM.Ref.ID != "900" || cs.DurationS != 60 ||
			cs.Events[1].CRMRef.Extra["missed_task_id"] != "5" || cs.Events[1].CRMRef.Extra["entity_type"] != "contacts" {
			t.Errorf("after delivery: %+v", cs)
		}
		if cs2, _ := db.CallStatus(ctx, acct.TenantID, "c2"); cs2.Events[0].Attempts != 1 || cs2.Events[0].LastError != "status 500" {
			t.Errorf("c2 after a failed attempt: %+v", cs2.Events[0])
		}

		t.Run("Stuck", func(t *testing.T) {
			_ = db.ReleaseCalls(ctx, []int64{c2}, "b")
			later := time.Now().Add(time.Hour)
			got, err := db.StuckCalls(ctx, later, time.Now().Add(-time.Hour), 0, 10)
			if err != nil || len(got) != 0 {
				t.Errorf("stuck (attempted recently) = %+v, %v; want none", got, err)
			}
			got, err = db.StuckCalls(ctx, later, later, 0, 10)
			if err != nil || len(got) != 1 || got[0].RowID != c2 || got[0].CallID != "c2" || got[0].TenantID != acct.TenantID {
				t.Errorf("stuck = %+v, %v; want c2", got, err)
			}
			if got, _ := db.StuckCalls(ctx, later, later, c2, 10); len(got) != 0 {
				t.Errorf("stuck after c2 = %+v", got)
			}
		})

		t.Run("ParkAndResume", func(t *testing.T) {
			if err := db.ParkAccount(ctx, acct.ID, "token refused"); err != nil {
				t.Fatal(err)
			}
			if cs, _ := db.CallStatus(ctx, acct.TenantID, "c2"); cs.Status != jobs.EventParked {
				t.Errorf("c2 after parking: %s", cs.Status)
			}
			if cs, _ := db.CallStatus(ctx, acct.TenantID, "c1"); cs.Status != jobs.EventDelivered {
				t.Errorf("c1 after parking: %s, want delivered events untouched", cs.Status)
			}
			if err := db.MarkNeedsRelink(ctx, acct.ID, "token refused"); err != nil {
				t.Fatal(err)
			}
			if got, _ := db.ResumeParked(ctx); len(got) != 0 {
				t.Errorf("resumed while the account needs a relink: %+v", got)
			}
			if _, err := db.LinkAccount(ctx, acct.TenantID, store.LinkAccount{Connector: "amocrm", Name: "again", ExternalID: "1",
				BaseURL: "https://x.amocrm.ru", Token: &oauth2.Token{AccessToken: "new"}}); err != nil {
				t.Fatal(err)
			}
			got, err := db.ResumeParked(ctx)
			if err != nil || len(got) != 1 || got[0].RowID != c2 {
				t.Fatalf("resumed = %+v, %v; want c2", got, err)
			}
			if cs, _ := db.CallStatus(ctx, acct.TenantID, "c2"); cs.Status != jobs.EventPending {
				t.Errorf("c2 after resuming: %s", cs.Status)
			}
		})
	})
}
