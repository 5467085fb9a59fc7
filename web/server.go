// Package web is crmsync's HTTP side: the PBX-facing API under /api/v1/,
// CRM webhooks, health checks, metrics and the ops dashboard mount.
//
// Every handler that reads or writes tenant data takes the tenant from the
// authenticated request, never from the URL or body, so one tenant can never
// reach another's data.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server serves the HTTP API. Set the fields, then call Open.
type Server struct {
	Addr string // listen address; ":0" picks a free port

	Tenants   Tenants
	Directory Directory
	// Accounts serves the CRM accounts API; nil leaves it out.
	Accounts Accounts
	// Events serves POST /api/v1/events and GET /api/v1/calls/{id}; nil
	// leaves them out.
	Events *Events
	// Syncer queues on-demand syncs; nil answers 503.
	Syncer Syncer
	// Ops configures /metrics and the /ops/queues dashboard.
	Ops Ops
	// Routing serves the route tester, recorded decisions and CRM
	// webhooks, and invalidates the routers' caches after changes.
	Routing Routing
	// Ready reports whether the process can serve (database and Redis
	// reachable, schema current). Nil means always ready.
	Ready func(ctx context.Context) error
	// Extra mounts more handlers (metrics, the dashboard) by pattern.
	Extra map[string]http.Handler
	// Admin configures the admin pages and OAuth linking (admin.go).
	Admin AdminConfig

	Logger *slog.Logger

	ln     net.Listener
	server *http.Server
	mux    *http.ServeMux
	once   sync.Once
}

// init builds the routes once, for Open and for Handler (tests that use
// httptest never call Open).
func (s *Server) init() {
	s.once.Do(func() {
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
		s.mux = http.NewServeMux()
		s.routes()
		for pattern, h := range s.Extra {
			s.mux.Handle(pattern, h)
		}
	})
}

// Open binds the listener and serves in the background.
func (s *Server) Open() error {
	s.init()
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w", s.Addr, err)
	}
	s.ln = ln
	s.server = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("web: serve", "err", err)
		}
	}()
	return nil
}

// Close stops accepting requests and waits up to 10 s for those in flight.
func (s *Server) Close() error {
	defer s.closeOps() // after in-flight dashboard requests
	if s.server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.server.Shutdown(ctx)
}

// URL returns the server's base URL, e.g. http://127.0.0.1:8080.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Handler returns the server's routes, for tests that use httptest.
func (s *Server) Handler() http.Handler {
	s.init()
	return s.mux
}

// routes registers every route in one place.
func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.handleHealthz)
	s.mux.HandleFunc("GET /readyz", s.handleReadyz)

	api := func(pattern string, h func(http.ResponseWriter, *http.Request)) {
		s.mux.Handle(pattern, s.authenticate(s.invalidating(http.HandlerFunc(h))))
	}
	api("GET /api/v1/tenant", s.handleGetTenant)
	api("PUT /api/v1/tenant/routing", s.handlePutRouting)
	s.directoryRoutes(api)
	s.accountRoutes(api)
	if s.Events != nil {
		s.Events.routes(api)
	}
	s.routeRoutes(api)
	s.mux.HandleFunc("POST /hooks/{connector}/{account}", s.handleHook)
	s.opsRoutes()
	s.adminRoutes()

	// Anything else under /api/ is a JSON 404, not the default text page.
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, notFoundRoute(r))
	})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.Logger.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
