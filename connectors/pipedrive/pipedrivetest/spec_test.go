package pipedrivetest

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

func TestSpecsDir(t *testing.T) {
	dir, err := SpecsDir()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "pipedrive" {
		t.Errorf("SpecsDir() = %s", dir)
	}
	for name, env := range map[string]string{"Env": dir, "EnvParent": filepath.Dir(dir)} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(connectortest.SpecsDirEnv, env)
			if got, err := SpecsDir(); err != nil || got != dir {
				t.Errorf("SpecsDir() = %q, %v; want %q", got, err, dir)
			}
		})
	}
	t.Run("EnvWrong", func(t *testing.T) {
		t.Setenv(connectortest.SpecsDirEnv, t.TempDir())
		if _, err := SpecsDir(); err == nil || !strings.Contains(err.Error(), connectortest.SpecsDirEnv) {
			t.Errorf("err = %v, want one naming %s", err, connectortest.SpecsDirEnv)
		}
	})
}

// TestSpecs_Route checks both documents route under their prefixes, and
// the OAuth operations (whose server is on the operation) at the root.
func TestSpecs_Route(t *testing.T) {
	s, err := loadSpecs()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, wantOp string }{
		{"GET", "/v1/users", "getUsers"},
		{"GET", "/v1/leads/archived", "getArchivedLeads"},
		{"PUT", "/v1/notes/12", "updateNote"},
		{"GET", "/api/v2/persons/search", "searchPersons"},
		{"GET", "/api/v2/deals", "getDeals"},
		{"POST", "/oauth/token", "get-tokens"},
		{"POST", "/oauth/token/", "refresh-tokens"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		route, _, err := s.FindRoute(r)
		if err != nil || route.Operation.OperationID != tc.wantOp {
			t.Errorf("%s %s: route %v, %v; want %s", tc.method, tc.path, route, err, tc.wantOp)
		}
	}
	if _, _, err := s.FindRoute(httptest.NewRequest("GET", "/users", nil)); err == nil {
		t.Error("GET /users (no prefix) routed")
	}
}

// TestHandler_FlagsInvalidResponse checks that what the fake answers is
// validated too: a users answer with a string id and a numeric name is
// reported.
func TestHandler_FlagsInvalidResponse(t *testing.T) {
	h, err := NewHandler(connectortest.NewBackend())
	if err != nil {
		t.Fatal(err)
	}
	var seen []error
	h.OnViolation = func(err error) { seen = append(seen, err) }
	h.routes().HandleFunc("GET /v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeData(w, map[string]any{"id": "7", "name": 7}, nil)
	})
	req := httptest.NewRequest("GET", "/v1/users/7", nil)
	req.Header.Set("Authorization", "Bearer "+h.AccessToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("status %d: the answer is still sent", rec.Code)
	}
	if len(seen) != 1 || !strings.Contains(seen[0].Error(), "invalid response") || !strings.Contains(seen[0].Error(), "/data/id") {
		t.Fatalf("violations = %v, want one invalid response naming the id", seen)
	}
	t.Logf("flagged: %v", seen[0])
	for _, k := range []string{"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} {
		if rec.Header().Get(k) == "" {
			t.Errorf("answer lacks %s", k)
		}
	}
}

func TestApplyNote(t *testing.T) {
	var call connectors.CallActivity
	applyNote(&call, `<p><b>Call update</b> (call log 17): Inbound call from +7</p><p>Category: sale</p>`+
		`<p>Value: 1 200</p><p>Wants a &lt;callback&gt;<br>tomorrow</p>`+
		`<p>Recording: <a href="https://rec.example.com/1.mp3?a=1&amp;b=2">https://rec.example.com/1.mp3?a=1&amp;b=2</a></p>`)
	want := connectors.CallActivity{Category: "sale", Value: "1 200", Comment: "Wants a <callback>\ntomorrow",
		RecordingURL: "https://rec.example.com/1.mp3?a=1&b=2"}
	if diff := cmp.Diff(want, call); diff != "" {
		t.Errorf("applyNote (-want +got):\n%s", diff)
	}
	if got := callLogOf(`<p><b>Call update</b> (call log CAd92b): …</p>`); got != "CAd92b" {
		t.Errorf("callLogOf = %q", got)
	}
}
