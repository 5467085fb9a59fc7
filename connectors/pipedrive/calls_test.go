package pipedrive_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/pipedrive"
)

var callStart = time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC)

func testCall(entity *connectors.EntityRef) connectors.CallActivity {
	return connectors.CallActivity{
		ExternalCallID: "call-1",
		Direction:      connectors.Inbound,
		From:           connectortest.Phone,
		To:             "+74950000001",
		StartedAt:      callStart,
		Duration:       95 * time.Second,
		Answered:       true,
		AnsweredBy:     "3",
		Responsible:    "2",
		Entity:         entity,
		RecordingURL:   "https://rec.example.com/call-1.mp3?sig=a&b=<c>",
		Category:       "sale",
	}
}

func TestClient_LogCall(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := seeded(t)
		deal := &connectors.EntityRef{Kind: connectors.KindDeal, ID: "20001"}
		ref, err := f.client.LogCall(ctx(t), testCall(deal))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{pipedrive.ExtraTarget: "deal:20001"}, ref.Extra); diff != "" {
			t.Errorf("ref.Extra (-want +got):\n%s", diff)
		}
		rec, ok := f.b.Call(ref.ID)
		if !ok {
			t.Fatalf("no call record %s", ref.ID)
		}
		want := testCall(deal)
		want.ExternalCallID = "" // Pipedrive keeps no external id
		want.Responsible = "3"   // one user field: who answered
		if diff := cmp.Diff(want, rec.Call); diff != "" {
			t.Errorf("call log (-want +got):\n%s", diff)
		}
	})
	t.Run("Missed", func(t *testing.T) {
		f := seeded(t)
		call := testCall(nil)
		call.Answered, call.AnsweredBy, call.Duration, call.RecordingURL, call.Category = false, "", 0, "", ""
		ref, err := f.client.LogCall(ctx(t), call)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := f.b.Call(ref.ID)
		if rec.Call.Answered || rec.Call.Responsible != "2" || rec.Call.Entity != nil || ref.Extra != nil {
			t.Errorf("missed call recorded as %+v, ref %+v", rec.Call, ref)
		}
	})
	t.Run("Outbound", func(t *testing.T) {
		f := seeded(t)
		call := testCall(&connectors.EntityRef{Kind: connectors.KindContact, ID: "10001"})
		call.Direction, call.From, call.To = connectors.Outbound, "+74950000001", connectortest.Phone
		ref, err := f.client.LogCall(ctx(t), call)
		if err != nil {
			t.Fatal(err)
		}
		if rec, _ := f.b.Call(ref.ID); rec.Call.Direction != connectors.Outbound || rec.Call.To != connectortest.Phone {
			t.Errorf("outbound call recorded as %+v", rec.Call)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) { // not a Pipedrive id: no request
		f := seeded(t)
		_, err := f.client.LogCall(ctx(t), testCall(&connectors.EntityRef{Kind: connectors.KindDeal, ID: "deal-1"}))
		if !errors.Is(err, connectors.ErrInvalid) || f.b.Requests("") != 0 {
			t.Errorf("err = %v after %d requests, want ErrInvalid and none", err, f.b.Requests(""))
		}
	})
}

func TestClient_LogCall_Updates(t *testing.T) {
	t.Run("OK", func(t *testing.T) { // one note per call: created, then rewritten
		f := seeded(t)
		call := testCall(&connectors.EntityRef{Kind: connectors.KindLead, ID: "30001"})
		ref, err := f.client.LogCall(ctx(t), call)
		if err != nil {
			t.Fatal(err)
		}
		call.Ref, call.Comment = ref, "Wants a callback"
		ref2, err := f.client.LogCall(ctx(t), call)
		if err != nil {
			t.Fatal(err)
		}
		if ref2.ID != ref.ID || ref2.Extra[pipedrive.ExtraNoteID] == "" || ref2.Extra[pipedrive.ExtraTarget] != "lead:30001" {
			t.Fatalf("ref after the first update = %+v", ref2)
		}
		if ref.Extra[pipedrive.ExtraNoteID] != "" {
			t.Fatal("LogCall changed the caller's ref")
		}
		call.Ref, call.Comment, call.Value = ref2, "Wants a callback tomorrow", "1200"
		ref3, err := f.client.LogCall(ctx(t), call)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ref2, ref3); diff != "" {
			t.Errorf("ref after the second update (-want +got):\n%s", diff)
		}
		notes := f.h.Notes()
		if len(notes) != 1 || !strings.Contains(notes[0], "(call log "+ref.ID+")") || !strings.Contains(notes[0], "tomorrow") {
			t.Fatalf("notes = %q, want one, naming the call log, rewritten", notes)
		}
		if n := f.b.Requests("PUT /v1/notes/" + ref2.Extra[pipedrive.ExtraNoteID]); n != 1 {
			t.Errorf("%d PUTs of the note, want 1", n)
		}
		rec, _ := f.b.Call(ref.ID)
		if rec.Writes != 3 || rec.Call.Comment != "Wants a callback tomorrow" || rec.Call.Value != "1200" || rec.Call.Category != "sale" {
			t.Errorf("call after updates: %d writes, %+v", rec.Writes, rec.Call)
		}
	})
	t.Run("NoteDeleted", func(t *testing.T) { // a user deleted the note: write a new one
		f := seeded(t)
		call := testCall(&connectors.EntityRef{Kind: connectors.KindContact, ID: "10002"})
		ref, err := f.client.LogCall(ctx(t), call)
		if err != nil {
			t.Fatal(err)
		}
		call.Ref, call.Comment = ref, "first"
		if call.Ref, err = f.client.LogCall(ctx(t), call); err != nil {
			t.Fatal(err)
		}
		old := call.Ref.Extra[pipedrive.ExtraNoteID]
		id, _ := strconv.ParseInt(old, 10, 64)
		f.h.DeleteNote(id)
		call.Comment = "second"
		ref3, err := f.client.LogCall(ctx(t), call)
		if err != nil {
			t.Fatal(err)
		}
		if n := ref3.Extra[pipedrive.ExtraNoteID]; n == "" || n == old {
			t.Errorf("note id after the delete = %q, want a new one (was %s)", n, old)
		}
	})
	t.Run("NothingToAdd", func(t *testing.T) {
		f := seeded(t)
		call := testCall(&connectors.EntityRef{Kind: connectors.KindDeal, ID: "20001"})
		call.Category, call.RecordingURL = "", ""
		ref, err := f.client.LogCall(ctx(t), call)
		if err != nil {
			t.Fatal(err)
		}
		before := f.b.Requests("")
		call.Ref = ref
		if got, err := f.client.LogCall(ctx(t), call); err != nil || got.ID != ref.ID {
			t.Fatalf("LogCall = %+v, %v", got, err)
		}
		if n := f.b.Requests("") - before; n != 0 {
			t.Errorf("%d requests for an update with nothing new, want 0", n)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) { // a call logged on nothing has nothing to hang a note on
		f := seeded(t)
		call := testCall(nil)
		call.Ref = connectors.CallRef{ID: "17"}
		if _, err := f.client.LogCall(ctx(t), call); !errors.Is(err, connectors.ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
}

func TestClient_CreateTask(t *testing.T) {
	f := seeded(t)
	long := strings.Repeat("Call back about the order. ", 20)
	id, err := f.client.CreateTask(ctx(t), connectors.Task{ResponsibleUserID: "2", Text: long,
		Entity: &connectors.EntityRef{Kind: connectors.KindLead, ID: "30001"}})
	if err != nil {
		t.Fatal(err)
	}
	tasks := f.b.Tasks()
	if len(tasks) != 1 || tasks[0].ID != id || tasks[0].Task.Text != strings.TrimSpace(long) || !tasks[0].Task.Due.IsZero() {
		t.Errorf("tasks = %+v, want the whole text and no due date", tasks)
	}
}
