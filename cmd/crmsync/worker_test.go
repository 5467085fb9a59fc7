package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/config"
	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/telephony"
)

// TestServe_AccountsSync runs the web and worker roles in one Main (as
// serve does) on the test store and Redis, against the amoCRM fake: an
// on-demand sync through the API, the links and sync runs it produced,
// manual links with their validation and tenant isolation, the dashboard
// behind ops auth, and /metrics.
func TestServe_AccountsSync(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.RedisURL = testenv.RedisURL(t)
	if testenv.HasPostgres() || testenv.CI() {
		cfg.DatabaseURL = testenv.PostgresDSN(t)
		cfg.SecretKey = config.Secret(strings.Repeat("k", 32))
	}
	cfg.OAuth["amocrm"] = config.OAuthApp{ClientID: amocrmtest.ClientID, ClientSecret: amocrmtest.ClientSecret}
	cfg.Ops.Password = "correct horse battery"
	m := &Main{Config: cfg, Roles: []role{roleWeb, roleWorker}, Migrate: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Run(ctx); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	backend := connectortest.NewBackend()
	backend.AddUsers(
		connectors.User{ID: "11", Name: "I. Petrov", Email: "IVAN@acme.example", Active: true},
		connectors.User{ID: "12", Name: "Olena Koval", Email: "olena.k@elsewhere.example", Active: true},
		connectors.User{ID: "13", Name: "Somebody Else", Email: "se@elsewhere.example", Active: true},
	)
	amo := amocrmtest.NewServer(backend)
	t.Cleanup(amo.Close)

	tn, creds, err := m.DB.CreateTenant(ctx, telephony.NewTenant{Name: "Acme", Prefix: "19079", Region: "UA"})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := m.DB.CreateTenant(ctx, telephony.NewTenant{Name: "Other", Prefix: "20000", Region: "UA"})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := m.DB.LinkAccount(ctx, tn.ID, store.LinkAccount{Connector: "amocrm", Name: "amo", ExternalID: "31337",
		BaseURL: amo.URL, Token: amo.IssueToken(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	base := m.Web.URL()
	call := func(key, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	key := creds.APIKey
	var emp map[string]any
	for _, body := range []string{
		`{"email":"ivan@acme.example","full_name":"Иван Петров"}`,
		`{"email":"olena@acme.example","full_name":"Олена Коваль"}`,
	} {
		code, out := call(key, "POST", "/api/v1/employees", body)
		if code != 201 {
			t.Fatalf("create employee: %d %s", code, out)
		}
		json.Unmarshal([]byte(out), &emp)
	}
	acctPath := fmt.Sprintf("/api/v1/accounts/%d", acct.ID)

	code, out := call(key, "POST", acctPath+"/sync", "")
	if code != 202 || !strings.Contains(out, `"task_id":"sync:users:`) {
		t.Fatalf("sync: %d %s", code, out)
	}
	var runs []struct {
		Status string
		Report struct {
			Trigger string
			Fetched int
			Matched map[string]int
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, out = call(key, "GET", acctPath+"/sync-runs", "")
		json.Unmarshal([]byte(out), &runs)
		if len(runs) > 0 && runs[0].Status != "running" && runs[0].Report.Trigger == "on_demand" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished on-demand sync within 30 s: %s", out)
		}
		time.Sleep(50 * time.Millisecond) // polling the worker
	}
	if r := runs[0]; r.Status != "succeeded" || r.Report.Fetched != 3 || r.Report.Matched["email"] != 1 || r.Report.Matched["name"] != 1 {
		t.Fatalf("run = %s", out)
	}

	code, out = call(key, "GET", acctPath+"/links", "")
	for _, want := range []string{`"crm_user_id":"11"`, `"state":"linked"`, `"rule":"name"`, `"state":"unmatched"`} {
		if code != 200 || !strings.Contains(out, want) {
			t.Errorf("links lack %s: %d %s", want, code, out)
		}
	}

	t.Run("TenantIsolation", func(t *testing.T) {
		for _, r := range [][2]string{{"GET", ""}, {"GET", "/links"}, {"GET", "/sync-runs"}, {"POST", "/sync"}} {
			if code, out := call(other.APIKey, r[0], acctPath+r[1], ""); code != 404 {
				t.Errorf("other tenant %s %s: %d %s", r[0], r[1], code, out)
			}
		}
		if code, out := call(other.APIKey, "GET", "/api/v1/accounts", ""); code != 200 || out != "[]\n" {
			t.Errorf("other tenant's list: %d %s", code, out)
		}
	})
	t.Run("PutLink", func(t *testing.T) {
		olena := int64(emp["id"].(float64))
		code, out := call(key, "PUT", acctPath+"/links", `{"crm_user_id":"13","employee_id":987654}`)
		if code != 400 || !strings.Contains(out, `"field":"employee_id"`) {
			t.Errorf("unknown employee: %d %s", code, out)
		}
		code, out = call(key, "PUT", acctPath+"/links", `{"crm_user_id":"99","employee_id":null}`)
		if code != 400 || !strings.Contains(out, `"field":"crm_user_id"`) {
			t.Errorf("unknown CRM user: %d %s", code, out)
		}
		code, out = call(key, "PUT", acctPath+"/links", fmt.Sprintf(`{"crm_user_id":"13","employee_id":%d}`, olena))
		if code != 200 || !strings.Contains(out, `"manual":true`) || !strings.Contains(out, `"employee_name":"Олена Коваль"`) {
			t.Errorf("set: %d %s", code, out)
		}
		code, out = call(key, "PUT", acctPath+"/links", fmt.Sprintf(`{"crm_user_id":"12","employee_id":%d}`, olena))
		if code != 409 || !strings.Contains(out, "CRM user 13 (Somebody Else)") {
			t.Errorf("conflict: %d %s", code, out)
		}
		if code, out := call(key, "DELETE", acctPath+"/links/13", ""); code != 204 {
			t.Errorf("delete: %d %s", code, out)
		}
	})
	t.Run("Ops", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/ops/queues/api/queues", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("dashboard without credentials: %d", resp.StatusCode)
		}
		req.SetBasicAuth("ops", "correct horse battery")
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("dashboard with credentials: %d", resp.StatusCode)
		}
		resp, err = http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`asynq_tasks_processed_total{queue="default"}`, `crmsync_sync_runs_total{outcome="succeeded"} 1`,
			`crmsync_crm_api_calls_total{connector="amocrm",status="200"}`, `crmsync_sync_duration_seconds_count{outcome="succeeded"} 1`,
			"go_goroutines"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// TestWorker_Metrics: a worker-only process serves its metrics on
// CRMSYNC_METRICS_ADDR.
func TestWorker_Metrics(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.RedisURL = testenv.RedisURL(t)
	cfg.MetricsAddr = freeAddr(t)
	m := &Main{Config: cfg, Roles: []role{roleWorker}, Migrate: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer m.Close()
	resp, err := http.Get("http://" + cfg.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`crmsync_sync_runs_total{outcome="failed"} 0`, "go_goroutines"} {
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("worker /metrics (%d) lacks %s", resp.StatusCode, want)
		}
	}
}
