package main

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/config"
	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/web"
)

// The worker's jobs need exactly what the store offers.
var (
	_ jobs.SyncStore = (*store.DB)(nil)
	_ jobs.CallStore = (*store.DB)(nil)
	_ web.CallStore  = (*store.DB)(nil)
)

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
	metrics := jobs.NewMetrics(m.Metrics)
	client := asynq.NewClient(redisOpt)
	m.onClose(client.Close)
	enq := &jobs.Enqueuer{Client: client}
	resolver := &connectors.Resolver{
		Accounts: m.DB,
		OAuth:    oauthApps(m.Config),
		Redis:    m.Redis,
		Observer: metrics.Observer(),
	}
	h := &jobs.Handler{
		Connections: resolver,
		Syncs:       m.DB,
		Calls:       &jobs.CallsHandler{Connections: resolver, Calls: m.DB, Queue: enq, Batch: true},
		Metrics:     metrics,
	}
	// WithCalls adds push-back's group aggregation (batches per CRM
	// account) and retry delays.
	srv := asynq.NewServer(redisOpt, jobs.WithCalls(asynq.Config{
		Concurrency:     m.Config.Worker.Concurrency,
		Queues:          m.Config.Worker.Queues,
		RetryDelayFunc:  jobs.RetryDelay,
		IsFailure:       jobs.IsFailure,
		ErrorHandler:    jobs.ErrorHandler(m.Logger),
		ShutdownTimeout: m.Config.ShutdownTimeout,
		Logger:          asynqLogger{m.Logger},
	}))
	mux := asynq.NewServeMux()
	jobs.Register(mux, h)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	m.onClose(func() error { srv.Shutdown(); return nil })

	// The sweeper re-queues call events that are still undelivered after a
	// while: a lost Redis, the embedded mode's restarts, parked accounts
	// that were linked again.
	sw := &jobs.Sweeper{Calls: m.DB, Queue: enq, Logger: m.Logger}
	sw.Start()
	m.onClose(func() error { sw.Shutdown(); return nil })

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
