package hubspottest

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/connectors/connectortest"
)

func TestSpecsDir(t *testing.T) {
	dir, err := SpecsDir()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "hubspot" {
		t.Errorf("SpecsDir() = %s", dir)
	}
	t.Run("Env", func(t *testing.T) {
		t.Setenv(connectortest.SpecsDirEnv, dir)
		if got, err := SpecsDir(); err != nil || got != dir {
			t.Errorf("SpecsDir() = %q, %v; want %q", got, err, dir)
		}
	})
	t.Run("EnvSpecsFolder", func(t *testing.T) {
		// The folder of every vendor's documents serves every fake.
		t.Setenv(connectortest.SpecsDirEnv, filepath.Dir(dir))
		if got, err := SpecsDir(); err != nil || got != dir {
			t.Errorf("SpecsDir() = %q, %v; want %q", got, err, dir)
		}
	})
	t.Run("EnvWrong", func(t *testing.T) {
		t.Setenv(connectortest.SpecsDirEnv, t.TempDir())
		if _, err := SpecsDir(); err == nil || !strings.Contains(err.Error(), connectortest.SpecsDirEnv) {
			t.Errorf("err = %v, want one naming %s", err, connectortest.SpecsDirEnv)
		}
	})
}

// TestHandler_FlagsInvalidResponse checks that what the fake answers is
// validated too: a handler answering an owner without its required fields
// and with a numeric id is reported.
func TestHandler_FlagsInvalidResponse(t *testing.T) {
	h, err := NewHandler(connectortest.NewBackend())
	if err != nil {
		t.Fatal(err)
	}
	var seen []error
	h.OnViolation = func(err error) { seen = append(seen, err) }
	h.routes().HandleFunc("GET /crm/v3/owners/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"id": 7, "email": "a@example.com"})
	})
	req := httptest.NewRequest("GET", "/crm/v3/owners/7", nil)
	req.Header.Set("Authorization", "Bearer "+h.AccessToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("status %d: the answer is still sent", rec.Code)
	}
	if len(seen) != 1 || !strings.Contains(seen[0].Error(), "invalid response") || !strings.Contains(seen[0].Error(), "archived") {
		t.Fatalf("violations = %v, want one invalid response naming a missing field", seen)
	}
	t.Logf("flagged: %v", seen[0])
}

func TestContainsToken(t *testing.T) {
	cases := []struct {
		value, pattern string
		want           bool
	}{
		{"79161234567", "*9161234567", true},
		{"79161234567", "9161234567", false},
		{"79161234567", "7916*", true},
		{"79161234567", "*6123*", true},
		{"+7 (916) 123-45-67", "*916", true},
		{"Ann@Example.com", "*@example.com", true},
		{"", "*1", false},
		{"123", "*", false},
	}
	for _, tc := range cases {
		if got := containsToken(tc.value, tc.pattern); got != tc.want {
			t.Errorf("containsToken(%q, %q) = %v, want %v", tc.value, tc.pattern, got, tc.want)
		}
	}
}

func TestNationalMatch(t *testing.T) {
	cases := []struct {
		stored, query string
		want          bool
	}{
		{"79161234567", "9161234567", true},   // country code
		{"89161234567", "9161234567", true},   // trunk prefix
		{"4979161234567", "9161234567", true}, // a near-miss HubSpot would also find by digits
		{"791612345678", "9161234567", false},
		{"12349161234567", "9161234567", false},
		{"9161234567", "", false},
	}
	for _, tc := range cases {
		if got := nationalMatch(tc.stored, tc.query); got != tc.want {
			t.Errorf("nationalMatch(%q, %q) = %v, want %v", tc.stored, tc.query, got, tc.want)
		}
	}
}
