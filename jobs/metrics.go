package jobs

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/connectors"
)

// Metrics are crmsync's own Prometheus metrics, shared by the roles of a
// process: sync runs (recorded by Handler) and CRM API calls and rate-limit
// waits (fed by connectors.Transport through Observer). A nil *Metrics
// records nothing.
type Metrics struct {
	SyncDuration  *prometheus.HistogramVec // crmsync_sync_duration_seconds{outcome}
	SyncRuns      *prometheus.CounterVec   // crmsync_sync_runs_total{outcome}
	CRMCalls      *prometheus.CounterVec   // crmsync_crm_api_calls_total{connector,status}
	RateLimitWait *prometheus.HistogramVec // crmsync_crm_rate_limit_wait_seconds{connector,limit}
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		SyncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crmsync_sync_duration_seconds",
			Help:    "Duration of CRM user sync runs, by outcome (succeeded, failed).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"outcome"}),
		SyncRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_sync_runs_total",
			Help: "CRM user sync runs, by outcome (succeeded, failed, skipped).",
		}, []string{"outcome"}),
		CRMCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_crm_api_calls_total",
			Help: "Requests sent to CRM APIs, by connector and HTTP status (0: no answer).",
		}, []string{"connector", "status"}),
		RateLimitWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crmsync_crm_rate_limit_wait_seconds",
			Help:    "Time requests waited for a CRM's client-side rate limit, by connector and limit.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
		}, []string{"connector", "limit"}),
	}
	reg.MustRegister(m.SyncDuration, m.SyncRuns, m.CRMCalls, m.RateLimitWait)
	// Series that exist from the start, so dashboards and alerts see zeros.
	for _, outcome := range []string{RunSucceeded, RunFailed, RunSkipped} {
		m.SyncRuns.WithLabelValues(outcome)
	}
	return m
}

// Observer returns the connectors.Observer that feeds the CRM metrics; cmd
// sets it on connectors.Resolver.
func (m *Metrics) Observer() connectors.Observer {
	if m == nil {
		return connectors.Observer{}
	}
	return connectors.Observer{
		Call: func(connector string, status int, _ time.Duration) {
			m.CRMCalls.WithLabelValues(connector, strconv.Itoa(status)).Inc()
		},
		RateLimitWait: func(connector, limit string, d time.Duration) {
			m.RateLimitWait.WithLabelValues(connector, limit).Observe(d.Seconds())
		},
	}
}

// observeSync records one sync run; skipped runs have no duration.
func (m *Metrics) observeSync(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.SyncRuns.WithLabelValues(outcome).Inc()
	if outcome != RunSkipped {
		m.SyncDuration.WithLabelValues(outcome).Observe(d.Seconds())
	}
}
