package web

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/jobs"
)

// TestEvents_Kinds checks the event wire format field by field (parseEvent,
// in calls.go): what each kind needs and allows, and normalisation.
func TestEvents_Kinds(t *testing.T) {
	for _, tc := range []struct {
		name, event string
		want        jobs.CallEvent
		errs        []string // "field: message" prefixes
	}{
		{name: "StartedAnonymous", event: `{"call_id":"a","kind":"call.started","seq":0,"occurred_at":"2025-03-04T10:00:00+02:00",` +
			`"direction":"inbound","caller":"anonymous","callee":"0441234567"}`,
			want: jobs.CallEvent{CallID: "a", Kind: jobs.EventStarted, OccurredAt: time.Date(2025, 3, 4, 8, 0, 0, 0, time.UTC),
				Direction: "inbound", Callee: "+380441234567"}},
		{name: "StartedMissing", event: `{"call_id":"a","kind":"call.started","seq":1,"occurred_at":"2025-03-04T10:00:00Z"}`,
			errs: []string{"direction: is required for call.started", "caller: is required", "callee: is required"}},
		{name: "AnsweredByContact", event: `{"call_id":"a","kind":"call.answered","seq":2,"occurred_at":"2025-03-04T10:00:00Z",` +
			`"answered_by_contact":"SIP:Anna@PBX.example"}`,
			want: jobs.CallEvent{CallID: "a", Kind: jobs.EventAnswered, Seq: 2, OccurredAt: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC),
				AnsweredByContact: "sip:Anna@pbx.example"}},
		{name: "AnsweredByNobody", event: `{"call_id":"a","kind":"call.answered","seq":2,"occurred_at":"2025-03-04T10:00:00Z"}`,
			errs: []string{"employee_id: is required for call.answered events"}},
		{name: "AnsweredTwice", event: `{"call_id":"a","kind":"call.answered","seq":2,"occurred_at":"2025-03-04T10:00:00Z",` +
			`"employee_id":4,"answered_by_contact":"+380671112233"}`,
			errs: []string{"answered_by_contact: give employee_id or answered_by_contact, not both"}},
		{name: "FinishedMissing", event: `{"call_id":"a","kind":"call.finished","seq":3,"occurred_at":"2025-03-04T10:00:00Z","recording_url":"ftp://x/y"}`,
			errs: []string{"recording_url: must be an http or https URL", "duration_s: is required", "answered: is required"}},
		{name: "TaggedNothing", event: `{"call_id":"a","kind":"call.tagged","seq":4,"occurred_at":"2025-03-04T10:00:00Z","value":null}`,
			errs: []string{"category: is required for call.tagged events (category, value or both)"}},
		{name: "TaggedValue", event: `{"call_id":"a","kind":"call.tagged","seq":4,"occurred_at":"2025-03-04T10:00:00Z","value":" high "}`,
			want: jobs.CallEvent{CallID: "a", Kind: jobs.EventTagged, Seq: 4, OccurredAt: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC), Value: "high"}},
		{name: "CommentedLong", event: `{"call_id":"a","kind":"call.commented","seq":5,"occurred_at":"2025-03-04T10:00:00Z","text":"` +
			strings.Repeat("я", 10001) + `"}`, errs: []string{"text: must be at most 10000 characters"}},
		{name: "UnknownKind", event: `{"call_id":"a","kind":"call.parked","seq":1,"occurred_at":"2025-03-04T10:00:00Z"}`,
			errs: []string{"kind: must be one of"}},
		{name: "BadCommon", event: `{"call_id":"","kind":"call.commented","seq":-1,"text":"x","direction":"sideways","caller":"12ab"}`,
			errs: []string{"call_id: must not be empty", "seq: must be a whole number", "direction: must be inbound or outbound",
				"caller: must be a phone number", "occurred_at: is required"}},
		{name: "DIDConflict", event: `{"call_id":"a","kind":"call.started","seq":1,"occurred_at":"2025-03-04T10:00:00Z","direction":"inbound",` +
			`"caller":"+380671112233","callee":"+380441234567","did":"+380441234568"}`,
			errs: []string{"did: is another name for callee"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, es := parseEvent([]byte(tc.event), "UA")
			var got []string
			for _, e := range es {
				got = append(got, e.Field+": "+e.Message)
			}
			if len(got) != len(tc.errs) {
				t.Fatalf("errors = %q, want %d like %q", got, len(tc.errs), tc.errs)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.errs[i]) {
					t.Errorf("error %d = %q, want %q…", i, got[i], tc.errs[i])
				}
			}
			if len(tc.errs) == 0 {
				if diff := cmp.Diff(tc.want, ev); diff != "" {
					t.Errorf("event (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestCalls_Get(t *testing.T) {
	s := newEvServer(t)
	s.store.status = map[string]jobs.CallStatus{"abc@pbx/1": {CallID: "abc@pbx/1", Status: jobs.EventPending,
		Events: []jobs.EventStatus{{Kind: jobs.EventStarted, Seq: 1, Status: jobs.EventPending, Attempts: 2, LastError: "status 500"}}}}
	get := func(path string) (int, []byte) {
		req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer key-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	status, body := get("/api/v1/calls/abc@pbx%2F1")
	if status != http.StatusOK || !strings.Contains(string(body), `"attempts":2,"last_error":"status 500"`) {
		t.Errorf("= %d %s", status, body)
	}
	if status, body := get("/api/v1/calls/nope"); status != http.StatusNotFound || !strings.Contains(string(body), `call \"nope\" not found`) {
		t.Errorf("unknown call = %d %s", status, body)
	}
}
