package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/crmsync/crmsync/connectors"
)

// Invalidator tells every router that cached routing data changed;
// telephony/routing's Invalidator implements it.
type Invalidator interface {
	// InvalidateTenant makes the routers reload the tenant's directory
	// (employees, departments, numbers, accounts, links, settings).
	InvalidateTenant(ctx context.Context, tenantID int64) error
	// InvalidateChanges drops the cached answers that decoded CRM webhook
	// changes of an account make stale; phones are read in region. It
	// returns how many invalidations it published.
	InvalidateChanges(ctx context.Context, tenantID, accountID int64, region string, changes []connectors.Change) (int, error)
}

// routingPaths are the API resources the routers keep in their snapshots:
// a successful change under one of them invalidates the tenant.
var routingPaths = []string{
	"/api/v1/employees",
	"/api/v1/departments",
	"/api/v1/numbers",
	"/api/v1/tenant",   // routing settings, region, time zone
	"/api/v1/accounts", // links (…/{id}/links) and the accounts themselves
}

// invalidating wraps an API handler so that a successful (2xx) POST, PUT,
// PATCH or DELETE under routingPaths invalidates the tenant's routing
// snapshot in every router: one place, not a call in every handler. The
// invalidation is published before the response status goes out, so a
// client that saw the answer finds the routers updating. A failure to
// publish is logged; the routers reload snapshots after
// routing.DefaultSnapshotTTL anyway.
func (s *Server) invalidating(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Routing.Invalidator == nil || !mutates(r.Method) || !routingPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		iw := &invalidateWriter{ResponseWriter: w, fire: func() {
			t := tenantFrom(r)
			if err := s.Routing.Invalidator.InvalidateTenant(context.WithoutCancel(r.Context()), t.ID); err != nil {
				s.Logger.Error("routing: invalidate tenant", "tenant_id", t.ID, "path", r.URL.Path, "err", err)
			}
		}}
		next.ServeHTTP(iw, r)
	})
}

func mutates(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// routingPath reports whether path is one of routingPaths or below one.
func routingPath(path string) bool {
	for _, p := range routingPaths {
		if rest, ok := strings.CutPrefix(path, p); ok && (rest == "" || rest[0] == '/') {
			return true
		}
	}
	return false
}

// invalidateWriter calls fire once, before a 2xx status is written.
type invalidateWriter struct {
	http.ResponseWriter
	fire  func()
	wrote bool
}

func (w *invalidateWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		if status >= 200 && status < 300 {
			w.fire()
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *invalidateWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *invalidateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
