package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/web"
)

// get sends GET path with optional Basic credentials.
func get(t *testing.T, srv *httptest.Server, path, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServer_Ops checks the dashboard behind ops auth and /metrics with
// asynq's queue metrics and crmsync's own, against the test Redis.
func TestServer_Ops(t *testing.T) {
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask(jobs.TypeSyncUsers, []byte(`{}`)), asynq.Queue(jobs.QueueDefault)); err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewQueueMetricsCollector(inspector))
	m := jobs.NewMetrics(reg)
	m.Observer().Call("amocrm", 200, 0)

	s := &web.Server{Tenants: fakeTenants{}, Ops: web.Ops{User: "ops", Password: "correct horse battery", ReadOnly: true, Redis: opt, Gatherer: reg}}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	defer s.Close()

	t.Run("Dashboard", func(t *testing.T) {
		code, body := get(t, srv, "/ops/queues/api/queues", "ops", "correct horse battery")
		if code != 200 || !strings.Contains(body, `"queue":"default"`) {
			t.Errorf("with credentials: %d %s", code, body)
		}
		if code, _ := get(t, srv, "/ops/queues/", "ops", "correct horse battery"); code != 200 {
			t.Errorf("dashboard page: %d", code)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		for _, c := range [][2]string{{"", ""}, {"ops", "wrong"}, {"root", "correct horse battery"}} {
			req, _ := http.NewRequest("GET", srv.URL+"/ops/queues/api/queues", nil)
			if c[0] != "" {
				req.SetBasicAuth(c[0], c[1])
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("%q/%q: %d %q", c[0], c[1], resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
	})
	t.Run("ErrDisabledWithoutPassword", func(t *testing.T) {
		s := &web.Server{Tenants: fakeTenants{}, Ops: web.Ops{User: "ops", Redis: opt}}
		defer s.Close()
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		code, body := get(t, srv, "/ops/queues/api/queues", "ops", "")
		if code != 403 || !strings.Contains(body, "CRMSYNC_OPS_PASSWORD") {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("Metrics", func(t *testing.T) {
		code, body := get(t, srv, "/metrics", "", "")
		for _, want := range []string{
			`asynq_queue_size{queue="default"} 1`,
			`crmsync_sync_runs_total{outcome="succeeded"} 0`,
			`crmsync_crm_api_calls_total{connector="amocrm",status="200"} 1`,
		} {
			if code != 200 || !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s (status %d)", want, code)
			}
		}
	})
}
