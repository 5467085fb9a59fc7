package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"

	"github.com/crmsync/crmsync/internal/webstore"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/web"
)

var (
	roleWeb    = role{name: "web", open: openWeb}
	roleWorker = role{name: "worker", open: openWorker}
	roleRouter = role{name: "router", open: openRouter}
)

// runRoles returns the command that runs roles until SIGINT or SIGTERM.
func runRoles(roles ...role) func(ctx context.Context, args []string, stdout io.Writer) error {
	return func(ctx context.Context, args []string, stdout io.Writer) error {
		names := make([]string, len(roles))
		for i, r := range roles {
			names[i] = r.name
		}
		name, summary := roles[0].name, "Run the "+roles[0].name+" role until SIGINT or SIGTERM."
		if len(roles) > 1 {
			name, summary = "serve", "Run every role ("+strings.Join(names, ", ")+") in one process until SIGINT or SIGTERM.\n"+
				"Applies pending database migrations first."
		}
		fs := newFlags(name, summary, stdout)
		var demo *bool
		if len(roles) > 1 {
			demo = demoFlag(fs)
		}
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		run := roles
		if demo != nil && *demo {
			run = append([]role{roleDemo}, roles...)
		}
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		m := &Main{Config: cfg, Roles: run, Migrate: len(roles) > 1, Logger: newLogger(cfg, os.Stderr)}
		if err := m.Run(ctx); err != nil {
			m.Close()
			return err
		}
		<-ctx.Done()
		m.Logger.Info("shutting down")
		return m.Close()
	}
}

// openWeb serves the HTTP API, the accounts API (with an asynq client to
// queue on-demand syncs), /metrics (crmsync's metrics and asynq's queue
// metrics through an asynq.Inspector) and the ops dashboard.
func openWeb(ctx context.Context, m *Main) error {
	redisOpt, err := asynq.ParseRedisURI(m.RedisURL)
	if err != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	client := asynq.NewClient(redisOpt)
	m.onClose(client.Close)
	inspector := asynq.NewInspector(redisOpt)
	m.onClose(inspector.Close)
	m.Metrics.MustRegister(metrics.NewQueueMetricsCollector(inspector))
	s := &web.Server{
		Addr:      m.Config.HTTPAddr,
		Tenants:   m.DB,
		Directory: m.DB,
		Accounts:  webstore.Accounts{DB: m.DB},
		Syncer:    &jobs.Enqueuer{Client: client},
		Events:    &web.Events{Calls: m.DB, Queue: &jobs.Enqueuer{Client: client}, Logger: m.Logger},
		Ops: web.Ops{
			User:     m.Config.Ops.User,
			Password: m.Config.Ops.Password.Reveal(),
			ReadOnly: m.Config.Ops.ReadOnly,
			Redis:    redisOpt,
			Gatherer: m.Metrics,
		},
		Ready:  m.ready,
		Logger: m.Logger,
	}
	rp, err := routingFor(ctx, m) // the route tester and webhooks share the router's resolver
	if err != nil {
		return err
	}
	s.Routing = rp.Web(m.DB)
	s.Admin = m.adminConfig(rp)
	if err := s.Open(); err != nil {
		return err
	}
	m.Web = s
	m.onClose(s.Close)
	m.Logger.Info("listening", "role", "web", "url", s.URL(), "dashboard", s.URL()+web.DashboardPath+"/")
	if m.Config.Ops.Password == "" {
		m.Logger.Warn("the ops dashboard is disabled: set CRMSYNC_OPS_PASSWORD (and CRMSYNC_OPS_USER) to enable " + web.DashboardPath)
	}
	return nil
}
