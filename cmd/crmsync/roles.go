package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hibiken/asynq"

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
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		cfg, err := loadConfig()
		if err != nil {
			return err
		}
		m := &Main{Config: cfg, Roles: roles, Migrate: len(roles) > 1, Logger: newLogger(cfg, os.Stderr)}
		if err := m.Run(ctx); err != nil {
			m.Close()
			return err
		}
		<-ctx.Done()
		m.Logger.Info("shutting down")
		return m.Close()
	}
}

func openWeb(ctx context.Context, m *Main) error {
	s := &web.Server{
		Addr:      m.Config.HTTPAddr,
		Tenants:   m.DB,
		Directory: m.DB,
		Ready:     m.ready,
		Logger:    m.Logger,
	}
	if err := s.Open(); err != nil {
		return err
	}
	m.Web = s
	m.onClose(s.Close)
	m.Logger.Info("listening", "role", "web", "url", s.URL())
	return nil
}

func openWorker(ctx context.Context, m *Main) error {
	redisOpt, err := asynq.ParseRedisURI(m.RedisURL)
	if err != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	srv := asynq.NewServer(redisOpt, asynq.Config{
		Concurrency:     m.Config.Worker.Concurrency,
		Queues:          m.Config.Worker.Queues,
		ShutdownTimeout: m.Config.ShutdownTimeout,
		Logger:          asynqLogger{m.Logger},
	})
	mux := asynq.NewServeMux()
	if err := srv.Start(mux); err != nil { // Start, not Run: Run traps signals and blocks
		return err
	}
	m.onClose(func() error { srv.Shutdown(); return nil })
	return nil
}

func openRouter(ctx context.Context, m *Main) error {
	return fmt.Errorf("the SIP router is not part of this build yet")
}
