package hubspot_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/hubspot/hubspottest"
)

// TestFake_FlagsInvalidRequests shows the fake's validation has teeth:
// requests HubSpot's documents reject are answered 400 (404 for a path no
// document has) and recorded as violations, so a client that sent them
// would fail every test that uses mustFake.
func TestFake_FlagsInvalidRequests(t *testing.T) {
	cases := []struct {
		name, method, path, body string
		wantStatus               int
		wantInViolation          string
	}{
		{
			name: "CallDurationNotString", method: "POST", path: "/crm/v3/objects/calls",
			body:       `{"properties":{"hs_timestamp":"1772445845000","hs_call_duration":95000},"associations":[]}`,
			wantStatus: 400, wantInViolation: "hs_call_duration",
		},
		{
			name: "CallWithoutAssociations", method: "POST", path: "/crm/v3/objects/calls",
			body:       `{"properties":{"hs_timestamp":"1772445845000"}}`,
			wantStatus: 400, wantInViolation: "associations",
		},
		{
			name: "AssociationTypeNotInteger", method: "POST", path: "/crm/v3/objects/calls",
			body:       `{"properties":{},"associations":[{"to":{"id":"1"},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":"194"}]}]}`,
			wantStatus: 400, wantInViolation: "associationTypeId",
		},
		{
			name: "SearchWithoutSorts", method: "POST", path: "/crm/v3/objects/contacts/search",
			body:       `{"filterGroups":[],"properties":[],"limit":10,"after":"0"}`,
			wantStatus: 400, wantInViolation: "sorts",
		},
		{
			name: "SearchBadOperator", method: "POST", path: "/crm/v3/objects/contacts/search",
			body:       `{"filterGroups":[{"filters":[{"propertyName":"phone","operator":"LIKE","value":"1"}]}],"properties":[],"sorts":[],"limit":10,"after":"0"}`,
			wantStatus: 400, wantInViolation: "operator",
		},
		{
			name: "OwnersLimitNotNumber", method: "GET", path: "/crm/v3/owners?limit=many",
			wantStatus: 400, wantInViolation: "limit",
		},
		{
			name: "DealsByName", method: "POST", path: "/crm/v3/objects/deals/search", // the document names 0-3
			body:       `{"filterGroups":[],"properties":[],"sorts":[],"limit":10,"after":"0"}`,
			wantStatus: 404, wantInViolation: "deals/search",
		},
		{
			name: "NoBearer", method: "GET", path: "/crm/v3/owners",
			wantStatus: 400, wantInViolation: "Bearer",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := connectortest.NewBackend()
			h, err := hubspottest.NewHandler(b)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var seen []error
			h.OnViolation = func(err error) { mu.Lock(); seen = append(seen, err); mu.Unlock() }
			srv := httptest.NewServer(h)
			defer srv.Close()

			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.name != "NoBearer" {
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
			if n := len(b.Calls()); n != 0 {
				t.Errorf("%d calls written", n)
			}
		})
	}
}

// TestFake_RejectsWhatHubSpotRejects covers the checks the documents cannot
// express (property values), which HubSpot answers 400 without it being a
// spec violation.
func TestFake_RejectsWhatHubSpotRejects(t *testing.T) {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	const valid = `"hs_timestamp":"1772445845000","hs_call_status":"COMPLETED"`
	cases := map[string]string{
		"UnknownProperty":  `{"properties":{` + valid + `,"hs_call_mood":"happy"},"associations":[]}`,
		"BadDirection":     `{"properties":{` + valid + `,"hs_call_direction":"SIDEWAYS"},"associations":[]}`,
		"BadStatus":        `{"properties":{"hs_timestamp":"1772445845000","hs_call_status":"ANSWERED"},"associations":[]}`,
		"DurationNotMs":    `{"properties":{` + valid + `,"hs_call_duration":"95s"},"associations":[]}`,
		"PlainHTTPRecord":  `{"properties":{` + valid + `,"hs_call_recording_url":"http://rec.example.com/1.mp3"},"associations":[]}`,
		"UnknownOwner":     `{"properties":{` + valid + `,"hubspot_owner_id":"999999"},"associations":[]}`,
		"NoTimestamp":      `{"properties":{"hs_call_status":"COMPLETED"},"associations":[]}`,
		"DealAsContact":    `{"properties":{` + valid + `},"associations":[{"to":{"id":"20001"},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":194}]}]}`,
		"MissingAssociate": `{"properties":{` + valid + `},"associations":[{"to":{"id":"777777"},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":194}]}]}`,
	}
	f := mustFake(t, b) // no violations expected: these are valid by the documents
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", f.srv.URL+"/crm/v3/objects/calls", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+f.h.AccessToken)
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %s", resp.StatusCode, msg)
			}
		})
	}
	if n := len(b.Calls()); n != 0 {
		t.Errorf("%d calls written, want 0", n)
	}
}
