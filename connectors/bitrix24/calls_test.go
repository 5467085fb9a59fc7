package bitrix24_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/bitrix24/bitrix24test"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// mustRegister registers a call at the fake directly, as something other
// than LogCall (a call-start event) would, and returns its CALL_ID.
func mustRegister(t *testing.T, srv *bitrix24test.Server, form url.Values) string {
	t.Helper()
	form.Set("auth", srv.IssueToken(time.Now().Add(time.Hour)).AccessToken)
	resp, err := srv.Client().PostForm(srv.BaseURL()+"telephony.externalCall.register", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Result struct {
			CallID string `json:"CALL_ID"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("register: %s, %v", resp.Status, err)
	}
	return ans.Result.CallID
}

func inbound(ext string) connectors.CallActivity {
	return connectors.CallActivity{ExternalCallID: ext, Direction: connectors.Inbound, From: connectortest.Phone,
		StartedAt: time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC), Duration: 95 * time.Second, Answered: true,
		AnsweredBy: "2", Responsible: "2", Entity: &connectors.EntityRef{Kind: connectors.KindContact, ID: "10001"},
		RecordingURL: "https://rec.example.com/" + ext + ".mp3"}
}

func TestClient_LogCall(t *testing.T) {
	t.Run("UniqueExternalCallID", func(t *testing.T) {
		b := connectortest.NewBackend()
		connectortest.Seed(b)
		c, srv := MustServe(t, b)
		// Same number, type and user twice: Bitrix24 would hand out the
		// first CALL_ID again but for a different EXTERNAL_CALL_ID.
		call := inbound("")
		ref1, err1 := c.LogCall(t.Context(), call)
		ref2, err2 := c.LogCall(t.Context(), call)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		ext := srv.ExternalCallIDs()
		if ref1.ID == ref2.ID || len(ext) != 2 || ext[0] == ext[1] || !strings.HasPrefix(ext[0], "crmsync-") {
			t.Fatalf("refs %q and %q, EXTERNAL_CALL_IDs %q: want two calls with unique ids", ref1.ID, ref2.ID, ext)
		}
		if _, err := c.LogCall(t.Context(), inbound("pbx-42")); err != nil {
			t.Fatal(err)
		}
		if got := srv.ExternalCallIDs()[2]; got != "pbx-42" {
			t.Errorf("EXTERNAL_CALL_ID = %q, want our call id", got)
		}
	})
	t.Run("RegisterThenFinish", func(t *testing.T) { // a call registered earlier is finished through its ref
		b := connectortest.NewBackend()
		connectortest.Seed(b)
		c, srv := MustServe(t, b)
		callID := mustRegister(t, srv, url.Values{"USER_ID": {"2"}, "PHONE_NUMBER": {connectortest.Phone}, "TYPE": {"2"},
			"CRM_ENTITY_TYPE": {"CONTACT"}, "CRM_ENTITY_ID": {"10001"}, "EXTERNAL_CALL_ID": {"pbx-1"}})
		call := inbound("pbx-1")
		call.Ref, call.AnsweredBy, call.Comment = connectors.CallRef{ID: callID}, "3", "Wants a callback"
		ref, err := c.LogCall(t.Context(), call)
		if err != nil {
			t.Fatal(err)
		}
		if ref.ID != callID || ref.Extra["finished"] != "1" || ref.Extra["activity_id"] == "" {
			t.Fatalf("ref = %+v, want the same call, finished, with its activity", ref)
		}
		recs := b.Calls()
		if len(recs) != 1 || len(srv.ExternalCallIDs()) != 1 {
			t.Fatalf("%d call records, %d registers; want the one call", len(recs), len(srv.ExternalCallIDs()))
		}
		got := recs[0]
		if got.Writes != 2 || got.Call.AnsweredBy != "3" || got.Call.Duration != 95*time.Second ||
			got.Call.RecordingURL != call.RecordingURL || got.Call.Comment != "Wants a callback" {
			t.Fatalf("call record = %+v", got)
		}

		t.Run("Unchanged", func(t *testing.T) { // nothing new: no request
			before := b.Requests("")
			call.Ref = ref
			if _, err := c.LogCall(t.Context(), call); err != nil || b.Requests("") != before {
				t.Fatalf("err = %v, %d requests; want none", err, b.Requests("")-before)
			}
		})
		t.Run("Category", func(t *testing.T) { // a later event: the note is saved again, nothing else
			call.Ref, call.Category = ref, "sale"
			if _, err := c.LogCall(t.Context(), call); err != nil {
				t.Fatal(err)
			}
			rec, _ := b.Call(got.ID)
			if rec.Writes != 3 || rec.Call.Comment != "Category: sale\nWants a callback" {
				t.Fatalf("call record = %+v", rec)
			}
		})
	})
	t.Run("PartialFailure", func(t *testing.T) { // finish refused: the ref survives for the retry
		b := connectortest.NewBackend()
		connectortest.Seed(b)
		c, srv := MustServe(t, b)
		callID := mustRegister(t, srv, url.Values{"USER_ID": {"2"}, "PHONE_NUMBER": {connectortest.Phone}, "TYPE": {"2"}})
		call := inbound("pbx-2")
		call.Ref, call.AnsweredBy = connectors.CallRef{ID: callID}, "7" // dismissed
		ref, err := c.LogCall(t.Context(), call)
		if !errors.Is(err, connectors.ErrInvalid) || ref.ID != callID {
			t.Fatalf("LogCall = %+v, %v; want ErrInvalid and the ref", ref, err)
		}
		call.Ref, call.AnsweredBy = ref, "3"
		if ref, err = c.LogCall(t.Context(), call); err != nil || ref.Extra["finished"] != "1" {
			t.Fatalf("retry = %+v, %v", ref, err)
		}
	})
	t.Run("Deal", func(t *testing.T) { // telephony binds by number; the note follows in a second request
		b := connectortest.NewBackend()
		connectortest.Seed(b)
		c, _ := MustServe(t, b)
		call := inbound("pbx-3")
		call.Entity, call.Comment = &connectors.EntityRef{Kind: connectors.KindDeal, ID: "20001"}, "About the deal"
		ref, err := c.LogCall(t.Context(), call)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := b.Call(b.Calls()[0].ID)
		want := connectors.EntityRef{Kind: connectors.KindContact, ID: "10001"}
		if rec.Call.Entity == nil || *rec.Call.Entity != want || rec.Call.Comment != "About the deal" || rec.Writes != 2 {
			t.Fatalf("call record = %+v", rec)
		}
		if b.Requests("POST /rest/batch") != 2 || ref.Extra["entity_type"] != "CONTACT" {
			t.Errorf("%d batches, ref %+v", b.Requests("POST /rest/batch"), ref)
		}
	})
	t.Run("UnknownMissed", func(t *testing.T) { // no user: the linking user; no record: no note
		b := connectortest.NewBackend()
		connectortest.Seed(b)
		c, _ := MustServe(t, b)
		call := connectors.CallActivity{ExternalCallID: "pbx-4", Direction: connectors.Outbound,
			From: connectortest.UnknownPhone, Comment: "Nobody"}
		ref, err := c.LogCall(t.Context(), call)
		if err != nil {
			t.Fatal(err)
		}
		rec := b.Calls()[0]
		if rec.Call.Entity != nil || rec.Call.Responsible != "1" || rec.Call.Answered || rec.Call.Direction != connectors.Outbound {
			t.Fatalf("call record = %+v", rec.Call)
		}
		if ref.Extra["activity_id"] != "" {
			t.Errorf("ref = %+v, want no activity", ref)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		c, _ := MustServe(t, connectortest.NewBackend())
		for _, call := range []connectors.CallActivity{
			{ExternalCallID: "x", AnsweredBy: "2"},                               // no number
			{ExternalCallID: "x", From: connectortest.Phone, AnsweredBy: "ivan"}, // not a Bitrix24 user id
		} {
			if _, err := c.LogCall(t.Context(), call); !errors.Is(err, connectors.ErrInvalid) {
				t.Errorf("LogCall(%+v) err = %v, want ErrInvalid", call, err)
			}
		}
	})
}

func TestClient_LogCalls(t *testing.T) {
	calls := make([]connectors.CallActivity, 30)
	for i := range calls {
		calls[i] = inbound("pbx-" + string(rune('a'+i)))
		calls[i].AnsweredBy, calls[i].Responsible = "", "" // one user.current per batch
	}
	t.Run("OK", func(t *testing.T) {
		b := connectortest.NewBackend()
		connectortest.Seed(b)
		c, _ := MustServe(t, b)
		res, err := c.LogCalls(t.Context(), calls)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil || r.Ref.ID == "" {
				t.Fatalf("result %d = %+v", i, r)
			}
		}
		// 3 commands a call (register, finish, record) + user.current: 16 calls a batch.
		if got := b.Requests("POST /rest/batch"); got != 2 {
			t.Errorf("%d batches, want 2", got)
		}
		if diff := cmp.Diff(30, len(b.Calls())); diff != "" {
			t.Errorf("call records (-want +got):\n%s", diff)
		}
	})
	t.Run("PartialFailure", func(t *testing.T) {
		b := connectortest.NewBackend()
		connectortest.Seed(b)
		c, _ := MustServe(t, b)
		b.Inject(connectortest.Fault{Status: http.StatusInternalServerError}) // the first batch
		res, err := c.LogCalls(t.Context(), calls)
		if err != nil {
			t.Fatalf("err = %v, want per-call errors", err)
		}
		if res[0].Err == nil || res[15].Err == nil || res[16].Err != nil || res[29].Ref.ID == "" {
			t.Fatalf("results 0, 15, 16 = %+v, %+v, %+v; want the first batch failed", res[0], res[15], res[16])
		}
	})
	t.Run("Failure", func(t *testing.T) {
		b := connectortest.NewBackend()
		connectortest.Seed(b)
		c, _ := MustServe(t, b)
		b.Inject(connectortest.Fault{Status: http.StatusUnauthorized, Times: 2})
		if _, err := c.LogCalls(t.Context(), calls); !errors.Is(err, connectors.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized for the whole request", err)
		}
	})
}
