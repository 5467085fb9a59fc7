package hubspot

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

func TestCheckStatus(t *testing.T) {
	const validation = `{"status":"error","message":"Property values were not valid: hs_call_duration","correlationId":"aeb5f871-7f07-4993-9211-075dc63e7cbf","category":"VALIDATION_ERROR"}`
	type want struct {
		is         []error // errors.Is must hold for each
		isNot      []error
		retryAfter time.Duration // > 0: a *RateLimitError with this wait
		text       string        // the error names it
	}
	kinds := []error{connectors.ErrUnauthorized, connectors.ErrInvalid, connectors.ErrNotFound}
	cases := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   *want // nil: no error
	}{
		{name: "OK", status: 200},
		{name: "Created", status: 201},
		{name: "MultiStatus", status: 207},
		{name: "Unauthorized", status: 401, body: `{"status":"error","message":"The OAuth token used to make this call expired 12 minute(s) ago.","category":"EXPIRED_AUTHENTICATION"}`,
			want: &want{is: []error{connectors.ErrUnauthorized}, isNot: []error{connectors.ErrInvalid}, text: "EXPIRED_AUTHENTICATION"}},
		{name: "RateLimitRetryAfter", status: 429, header: http.Header{"Retry-After": {"7"}},
			want: &want{retryAfter: 7 * time.Second}},
		{name: "RateLimitDefault", status: 429, body: `{"status":"error","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}`,
			want: &want{retryAfter: 10 * time.Second}},
		{name: "RateLimitSecondly", status: 429, body: `{"status":"error","errorType":"RATE_LIMIT","policyName":"SECONDLY"}`,
			want: &want{retryAfter: time.Second}},
		{name: "RateLimitInterval", status: 429, header: http.Header{"X-Hubspot-Ratelimit-Interval-Milliseconds": {"2000"}},
			want: &want{retryAfter: 2 * time.Second}},
		{name: "BadRequest", status: 400, body: validation,
			want: &want{is: []error{connectors.ErrInvalid}, isNot: []error{connectors.ErrUnauthorized, connectors.ErrNotFound},
				text: "status 400: VALIDATION_ERROR: Property values were not valid: hs_call_duration"}},
		{name: "Forbidden", status: 403, body: `{"message":"This app hasn't been granted all required scopes","category":"MISSING_SCOPES"}`,
			want: &want{is: []error{connectors.ErrInvalid}, text: "MISSING_SCOPES"}},
		{name: "NotFound", status: 404, body: `{"message":"resource not found","category":"OBJECT_NOT_FOUND"}`,
			want: &want{is: []error{connectors.ErrNotFound, connectors.ErrInvalid}, text: "resource not found"}},
		{name: "Conflict", status: 409, body: `not json`,
			want: &want{is: []error{connectors.ErrInvalid}, text: "status 409"}},
		{name: "ServerError", status: 500, body: `{"message":"internal error","category":"INTERNAL_ERROR"}`,
			want: &want{isNot: kinds, text: "status 500: INTERNAL_ERROR: internal error"}},
		{name: "BadGateway", status: 502, body: `<html>bad gateway</html>`,
			want: &want{isNot: kinds, text: "status 502"}},
		{name: "LongMessage", status: 400, body: `{"message":"` + strings.Repeat("x", 1000) + `"}`,
			want: &want{is: []error{connectors.ErrInvalid}, text: strings.Repeat("x", 300) + "…"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: tc.header, Body: io.NopCloser(strings.NewReader(tc.body))}
			if resp.Header == nil {
				resp.Header = http.Header{}
			}
			err := checkStatus(resp)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("err = nil")
			}
			var rl *connectors.RateLimitError
			if isRL := errors.As(err, &rl); isRL != (tc.want.retryAfter > 0) || (isRL && rl.RetryAfter != tc.want.retryAfter) {
				t.Errorf("err = %#v, want RateLimitError with %s", err, tc.want.retryAfter)
			}
			for _, k := range tc.want.is {
				if !errors.Is(err, k) {
					t.Errorf("err = %v, want it to be %v", err, k)
				}
			}
			for _, k := range tc.want.isNot {
				if errors.Is(err, k) {
					t.Errorf("err = %v, must not be %v", err, k)
				}
			}
			if !strings.Contains(err.Error(), tc.want.text) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want.text)
			}
		})
	}
}

func TestCallProperties(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC)
	call := connectors.CallActivity{
		ExternalCallID: "c-1", Direction: connectors.Inbound, From: "+79161234567", To: "+74950000001",
		StartedAt: start, Duration: 95*time.Second + 500*time.Millisecond, Responsible: "5",
		Category: "sale", Value: "<1200>", Comment: "Call back & confirm",
	}
	p := callProperties(call, time.Time{})
	want := map[string]string{
		"hs_timestamp":        "1772445845000",
		"hs_call_direction":   "INBOUND",
		"hs_call_duration":    "95500",
		"hs_call_status":      "NO_ANSWER",
		"hs_call_disposition": dispositionNoAnswer,
		"hs_call_from_number": "+79161234567",
		"hs_call_to_number":   "+74950000001",
		"hs_call_external_id": "c-1",
		"hs_call_title":       "Missed call from +79161234567",
		"hs_call_body":        "<p>Category: sale</p><p>Value: &lt;1200&gt;</p><p>Call back &amp; confirm</p>",
		"hubspot_owner_id":    "5", // nobody answered: the responsible manager
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("properties = %v, want exactly %v", p, want)
	}
	call.Answered, call.AnsweredBy, call.Direction = true, "9", connectors.Outbound
	p = callProperties(call, time.Time{})
	if p["hubspot_owner_id"] != "9" || p["hs_call_status"] != "COMPLETED" || p["hs_call_disposition"] != dispositionConnected ||
		p["hs_call_title"] != "Outbound call to +74950000001" {
		t.Errorf("answered outbound call: %v", p)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if p := callProperties(connectors.CallActivity{}, now); p["hs_timestamp"] != "1767225600000" || p["hs_call_body"] != "" {
		t.Errorf("empty call: %v", p)
	}
}
