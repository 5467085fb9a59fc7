package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/config"
	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/store"
)

// The worker's jobs need exactly what the store offers.
var _ jobs.SyncStore = (*store.DB)(nil)

// openWorker starts the asynq server (Start, not Run: Run traps signals and
// blocks) with crmsync's handlers and retry policy, and the periodic task
// manager that schedules each connected account's user sync. Close stops
// them in reverse: no new periodic tasks, then in-flight tasks drain for up
// to ShutdownTimeout.
func openWorker(ctx context.Context, m *Main) error {
	redisOpt, err := asynq.ParseRedisURI(m.RedisURL)
	if err != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	metrics, err := workerMetrics(m)
	if err != nil {
		return err
	}
	h := &jobs.Handler{
		Connections: &connectors.Resolver{
			Accounts: m.DB,
			OAuth:    oauthApps(m.Config),
			Redis:    m.Redis,
			Observer: metrics.Observer(),
		},
		Syncs:   m.DB,
		Metrics: metrics,
	}
	srv := asynq.NewServer(redisOpt, asynq.Config{
		Concurrency:     m.Config.Worker.Concurrency,
		Queues:          m.Config.Worker.Queues,
		RetryDelayFunc:  jobs.RetryDelay,
		IsFailure:       jobs.IsFailure,
		ErrorHandler:    jobs.ErrorHandler(m.Logger),
		ShutdownTimeout: m.Config.ShutdownTimeout,
		Logger:          asynqLogger{m.Logger},
	})
	mux := asynq.NewServeMux()
	jobs.Register(mux, h)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	m.onClose(func() error { srv.Shutdown(); return nil })

	mgr, err := jobs.NewPeriodicTaskManager(redisOpt, &jobs.PeriodicSyncs{
		Accounts:        syncSchedules(m.DB),
		DefaultInterval: m.Config.Worker.SyncInterval,
	}, 0, asynqLogger{m.Logger})
	if err != nil {
		return fmt.Errorf("periodic syncs: %w", err)
	}
	if err := mgr.Start(); err != nil {
		return fmt.Errorf("start periodic syncs: %w", err)
	}
	m.onClose(func() error { mgr.Shutdown(); return nil })
	return nil
}

// syncSchedules lists the periodic syncs: every connected account at its
// own interval (0: the configured default).
func syncSchedules(db *store.DB) func(context.Context) ([]jobs.SyncSchedule, error) {
	return func(ctx context.Context) ([]jobs.SyncSchedule, error) {
		accts, err := db.SyncableAccounts(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]jobs.SyncSchedule, len(accts))
		for i, a := range accts {
			out[i] = jobs.SyncSchedule{TenantID: a.TenantID, AccountID: a.ID, Interval: a.SyncInterval.Duration()}
		}
		return out, nil
	}
}

// oauthApps builds each configured connector's OAuth app for the resolver:
// client id and secret from configuration, scopes from the registry, and
// the callback URL under CRMSYNC_BASE_URL (amoCRM's refresh needs it).
func oauthApps(cfg config.Config) map[string]*oauth2.Config {
	out := map[string]*oauth2.Config{}
	for name, app := range cfg.OAuth {
		info, err := connectors.Lookup(name)
		if err != nil {
			continue
		}
		out[name] = &oauth2.Config{
			ClientID:     app.ClientID,
			ClientSecret: app.ClientSecret.Reveal(),
			RedirectURL:  cfg.BaseURL + "/connect/" + name + "/callback",
			Scopes:       info.Scopes,
		}
	}
	return out
}

// gatherers is the process's /metrics source: the web role creates it and
// a worker in the same process adds its registry, so one /metrics shows
// both. Roles open in order (web, then worker).
type gatherers struct {
	mu   sync.Mutex
	list prometheus.Gatherers
}

func (g *gatherers) add(r prometheus.Gatherer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.list = append(g.list, r)
}

// Gather implements prometheus.Gatherer.
func (g *gatherers) Gather() ([]*dto.MetricFamily, error) {
	g.mu.Lock()
	list := g.list
	g.mu.Unlock()
	return list.Gather()
}

// workerMetrics registers the worker's metrics: with the web role's
// /metrics when this process has one, else on CRMSYNC_WORKER_METRICS_ADDR
// when set (with the Go runtime's), else nowhere.
func workerMetrics(m *Main) (*jobs.Metrics, error) {
	reg := prometheus.NewRegistry()
	metrics := jobs.NewMetrics(reg)
	if m.Web != nil {
		if g, ok := m.Web.Ops.Gatherer.(*gatherers); ok {
			g.add(reg)
			return metrics, nil
		}
	}
	addr := m.Config.Worker.MetricsAddr
	if addr == "" {
		return metrics, nil
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("worker metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("worker metrics: serve", "err", err)
		}
	}()
	m.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(ctx)
	})
	m.Logger.Info("serving worker metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return metrics, nil
}
