package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/crmsync/crmsync/config"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/web"
)

// Main is the program: it opens what the chosen roles need, runs them, and
// closes everything in reverse order. Tests build one, set Config, and call
// Run and Close.
type Main struct {
	Config config.Config
	Roles  []role
	// Migrate applies migrations at start (serve); split roles only check.
	Migrate bool
	Logger  *slog.Logger

	DB        *store.DB
	Redis     *redis.Client
	RedisURL  string // the URL Redis is reachable at (the in-process one too)
	miniredis *miniredis.Miniredis

	// Metrics is the process's one Prometheus registry: every role
	// registers its metrics here, and /metrics (the web role's, or
	// CRMSYNC_METRICS_ADDR) serves it.
	Metrics *prometheus.Registry

	Web     *web.Server
	routing *routingParts // opened by the first role that needs it
	demo    *demoSandbox  // crmsync serve --demo's sandbox CRM, for the web role

	closers []func() error
}

// role is one part of the program: web, worker or router.
type role struct {
	name string
	open func(ctx context.Context, m *Main) error
}

// Run opens every dependency and starts the roles. It does not block.
func (m *Main) Run(ctx context.Context) error {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	m.Metrics = prometheus.NewRegistry()
	m.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := m.openStore(ctx); err != nil {
		return err
	}
	if err := m.openRedis(ctx); err != nil {
		return err
	}
	for _, r := range m.Roles {
		if err := r.open(ctx, m); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		m.Logger.Info("role started", "role", r.name)
	}
	if m.Web == nil && m.Config.MetricsAddr != "" {
		return m.serveMetrics(m.Config.MetricsAddr)
	}
	return nil
}

// serveMetrics serves /metrics on addr, for processes without the web role.
func (m *Main) serveMetrics(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Metrics, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("metrics: serve", "err", err)
		}
	}()
	m.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(ctx)
	})
	m.Logger.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// Close stops the roles and closes dependencies, in the reverse order of Run.
func (m *Main) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	m.closers = nil
	return errors.Join(errs...)
}

// onClose registers fn to run at Close, before everything opened earlier.
func (m *Main) onClose(fn func() error) { m.closers = append(m.closers, fn) }

func (m *Main) openStore(ctx context.Context) error {
	secret, err := m.secretKey()
	if err != nil {
		return err
	}
	sealer, err := store.NewSealer(secret)
	if err != nil {
		return err
	}
	url := m.Config.DatabaseURL
	if url == "" {
		url = "sqlite://" + m.Config.SQLitePath()
		m.Logger.Info("CRMSYNC_DATABASE_URL is unset: using the embedded SQLite database", "path", m.Config.SQLitePath())
	}
	db, err := store.Open(ctx, store.Options{URL: url, Sealer: sealer, Migrate: m.Migrate})
	if err != nil {
		return err
	}
	m.DB = db
	m.onClose(db.Close)
	return nil
}

// secretKey returns CRMSYNC_SECRET_KEY or, for the embedded SQLite default
// only, a key generated once and kept in the data directory.
func (m *Main) secretKey() (string, error) {
	if k := m.Config.SecretKey.Reveal(); k != "" {
		return k, nil
	}
	if strings.HasPrefix(m.Config.DatabaseURL, "postgres") {
		return "", errors.New("CRMSYNC_SECRET_KEY is required with PostgreSQL")
	}
	path := filepath.Join(m.Config.DataDir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	key := base64.RawURLEncoding.EncodeToString(b)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	m.Logger.Info("CRMSYNC_SECRET_KEY is unset: generated one for the embedded database", "path", path)
	return key, nil
}

func (m *Main) openRedis(ctx context.Context) error {
	m.RedisURL = m.Config.RedisURL
	if m.RedisURL == "" {
		mr := miniredis.NewMiniRedis()
		mr.ClockTTL(true) // TTLs on the wall clock, as in real Redis (asynq's unique tasks need it)
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start in-process redis: %w", err)
		}
		m.miniredis = mr
		m.onClose(func() error { mr.Close(); return nil })
		m.RedisURL = "redis://" + mr.Addr() + "/0"
		m.Logger.Warn("CRMSYNC_REDIS_URL is unset: using an in-process Redis for trying out — " +
			"single process only, and no queue survives a restart; set CRMSYNC_REDIS_URL for production")
	}
	opts, err := redis.ParseURL(m.RedisURL)
	if err != nil {
		return fmt.Errorf("CRMSYNC_REDIS_URL: %w", err)
	}
	m.Redis = redis.NewClient(opts)
	m.onClose(m.Redis.Close)
	if err := m.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("connect to redis: %w", err)
	}
	return nil
}

// ready reports whether the database and Redis are reachable and the
// schema is current (for /readyz).
func (m *Main) ready(ctx context.Context) error {
	if err := m.DB.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := m.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// newLogger builds the process logger from the configuration.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
