package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DashboardPath is where the asynq dashboard (asynqmon) is mounted.
const DashboardPath = "/ops/queues"

// Ops configures the operator endpoints.
type Ops struct {
	// User and Password guard the dashboard with HTTP Basic auth. Without
	// a password the dashboard answers 403: it is never open by default.
	User     string
	Password string
	// ReadOnly hides the dashboard's buttons that change queues (retry,
	// delete, pause, …).
	ReadOnly bool
	// Redis is the asynq Redis the dashboard shows; nil leaves the
	// dashboard out.
	Redis asynq.RedisConnOpt
	// Gatherer is served at /metrics for Prometheus; nil leaves it out.
	Gatherer prometheus.Gatherer

	dashboard *asynqmon.HTTPHandler
}

// opsRoutes mounts /metrics and the dashboard, when configured. The
// dashboard is registered at its root path plus "/", so every page and API
// call under it (/ops/queues/api/queues, …) reaches asynqmon, behind
// opsAuth: asynqmon has no authentication of its own.
func (s *Server) opsRoutes() {
	if s.Ops.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.Ops.Gatherer, promhttp.HandlerOpts{}))
	}
	if s.Ops.Redis != nil {
		s.Ops.dashboard = asynqmon.New(asynqmon.Options{
			RootPath:     DashboardPath,
			RedisConnOpt: s.Ops.Redis,
			ReadOnly:     s.Ops.ReadOnly,
		})
		s.mux.Handle(DashboardPath+"/", s.opsAuth(s.Ops.dashboard))
	}
}

// closeOps releases the dashboard's Redis connections.
func (s *Server) closeOps() {
	if s.Ops.dashboard != nil {
		s.Ops.dashboard.Close() //nolint:errcheck // closing connections at shutdown
		s.Ops.dashboard = nil
	}
}

// opsAuth lets a request through only with the ops user and password in
// HTTP Basic auth, compared in constant time (digests first, so neither
// length leaks). Without a configured password it refuses everyone.
func (s *Server) opsAuth(next http.Handler) http.Handler {
	wantUser, wantPass := sha256.Sum256([]byte(s.Ops.User)), sha256.Sum256([]byte(s.Ops.Password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Ops.Password == "" {
			http.Error(w, "the ops dashboard is disabled: set CRMSYNC_OPS_USER and CRMSYNC_OPS_PASSWORD to enable it",
				http.StatusForbidden)
			return
		}
		user, pass, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="crmsync ops", charset="UTF-8"`)
			http.Error(w, "ops credentials required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
