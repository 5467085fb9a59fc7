package pipedrive_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/pipedrive/pipedrivetest"
)

// A valid call log body, less what a case changes.
const validTimes = `"start_time":"2026-03-02 10:04:05","end_time":"2026-03-02 10:05:40"`

// TestFake_FlagsInvalidRequests shows the fake's validation has teeth:
// requests Pipedrive's documents reject are answered 400 (404 for a path
// neither document has) and recorded as violations, so a client that sent
// them would fail every test that uses mustFake.
func TestFake_FlagsInvalidRequests(t *testing.T) {
	cases := []struct {
		name, method, path, body string
		basic                    bool // client credentials instead of a bearer token
		wantStatus               int
		wantInViolation          string
	}{
		{name: "CallLogDurationNotString", method: "POST", path: "/v1/callLogs",
			body:       `{"to_phone_number":"+74950000001","outcome":"connected",` + validTimes + `,"duration":95}`,
			wantStatus: 400, wantInViolation: "duration"},
		{name: "CallLogBadOutcome", method: "POST", path: "/v1/callLogs",
			body:       `{"to_phone_number":"+74950000001","outcome":"answered",` + validTimes + `}`,
			wantStatus: 400, wantInViolation: "outcome"},
		{name: "CallLogWithoutEndTime", method: "POST", path: "/v1/callLogs",
			body:       `{"to_phone_number":"+74950000001","outcome":"connected","start_time":"2026-03-02 10:04:05"}`,
			wantStatus: 400, wantInViolation: "end_time"},
		{name: "CallLogStartTimeNotATime", method: "POST", path: "/v1/callLogs",
			body:       `{"to_phone_number":"+74950000001","outcome":"busy","start_time":"yesterday","end_time":"2026-03-02 10:05:40"}`,
			wantStatus: 400, wantInViolation: "start_time"},
		{name: "CallLogDealIDNotInteger", method: "POST", path: "/v1/callLogs",
			body:       `{"to_phone_number":"+74950000001","outcome":"busy",` + validTimes + `,"deal_id":"20001"}`,
			wantStatus: 400, wantInViolation: "deal_id"},
		{name: "SearchWithoutTerm", method: "GET", path: "/api/v2/persons/search?fields=phone",
			wantStatus: 400, wantInViolation: "term"},
		{name: "SearchUnknownField", method: "GET", path: "/api/v2/persons/search?term=9161234567&fields=mobile",
			wantStatus: 400, wantInViolation: "fields"},
		{name: "DealsTwoStatuses", method: "GET", path: "/api/v2/deals?person_id=10001&status=open,won",
			wantStatus: 400, wantInViolation: "status"},
		{name: "DealsPersonNotInteger", method: "GET", path: "/api/v2/deals?person_id=ivan",
			wantStatus: 400, wantInViolation: "person_id"},
		{name: "NoteWithoutContent", method: "POST", path: "/v1/notes", body: `{"deal_id":20001}`,
			wantStatus: 400, wantInViolation: "content"},
		{name: "ActivityDoneNotBoolean", method: "POST", path: "/api/v2/activities",
			body: `{"subject":"Call back","type":"task","done":"no"}`, wantStatus: 400, wantInViolation: "done"},
		{name: "PersonsSearchInV1", method: "GET", path: "/v1/persons/search?term=9161234567",
			wantStatus: 404, wantInViolation: "/v1/persons/search"},
		{name: "NoBearer", method: "GET", path: "/v1/users", wantStatus: 400, wantInViolation: "Bearer"},
		{name: "TokenWithoutBasicAuth", method: "POST", path: "/oauth/token",
			body:       "grant_type=refresh_token&refresh_token=r",
			wantStatus: 400, wantInViolation: "Authorization"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := connectortest.NewBackend()
			connectortest.Seed(b)
			h, err := pipedrivetest.NewHandler(b)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var seen []error
			h.OnViolation = func(err error) { mu.Lock(); seen = append(seen, err); mu.Unlock() }
			srv := httptest.NewServer(h)
			defer srv.Close()

			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			switch {
			case strings.HasPrefix(tc.path, "/oauth/"):
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			case tc.body != "":
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.name != "NoBearer" && !strings.HasPrefix(tc.path, "/oauth/") {
				req.Header.Set("Authorization", "Bearer "+h.AccessToken)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || len(h.Violations()) != 1 {
				t.Fatalf("violations = %v, want one", seen)
			}
			t.Logf("flagged: %v", seen[0])
			if !strings.Contains(seen[0].Error(), tc.wantInViolation) {
				t.Errorf("violation %q does not name %q", seen[0], tc.wantInViolation)
			}
			if n := len(b.Calls()) + len(h.Notes()) + len(b.Tasks()); n != 0 {
				t.Errorf("%d records written", n)
			}
		})
	}
}

// TestFake_RejectsWhatPipedriveRejects covers checks the documents cannot
// express, which Pipedrive answers 400 or 404 without the request being a
// spec violation.
func TestFake_RejectsWhatPipedriveRejects(t *testing.T) {
	f := seeded(t) // no violations expected: these are valid by the documents
	cases := []struct {
		name, path, body string
		want             int
	}{
		{"CallLogOnDealAndLead", "/v1/callLogs",
			`{"to_phone_number":"+1","outcome":"busy",` + validTimes + `,"deal_id":20001,"lead_id":"30001"}`, 400},
		{"CallLogRFC3339Time", "/v1/callLogs",
			`{"to_phone_number":"+1","outcome":"busy","start_time":"2026-03-02T10:04:05Z","end_time":"2026-03-02T10:05:40Z"}`, 400},
		{"CallLogEndsBeforeStart", "/v1/callLogs",
			`{"to_phone_number":"+1","outcome":"busy","start_time":"2026-03-02 10:04:05","end_time":"2026-03-02 10:00:00"}`, 400},
		{"CallLogUnknownUser", "/v1/callLogs",
			`{"to_phone_number":"+1","outcome":"busy",` + validTimes + `,"user_id":999999}`, 400},
		{"CallLogUnknownDeal", "/v1/callLogs",
			`{"to_phone_number":"+1","outcome":"busy",` + validTimes + `,"deal_id":777777}`, 404},
		{"CallLogPersonIsADeal", "/v1/callLogs",
			`{"to_phone_number":"+1","outcome":"busy",` + validTimes + `,"person_id":20001}`, 404},
		{"NoteOnNothing", "/v1/notes", `{"content":"hello"}`, 400},
		{"ActivityUnknownType", "/api/v2/activities", `{"subject":"x","type":"séance"}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", f.srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+f.h.AccessToken)
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.want, msg)
			}
		})
	}
	if n := len(f.b.Calls()) + len(f.h.Notes()) + len(f.b.Tasks()); n != 0 {
		t.Errorf("%d records written, want 0", n)
	}
}
