package web

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/telephony"
)

// The admin pages (issue 8): server-rendered HTML for a tenant's
// administrators and department heads. Administrators manage their tenant:
// CRM accounts (connect, sync, disconnect), the employee mapping, smart
// forwarding and its route tester, employees and recent calls. Department
// heads see their own department read-only: its employees, their mapping
// rows and their calls. Other roles cannot sign in. Every page takes the
// tenant from the session, never from the URL, and another tenant's ids are
// 404s, as in the API.

// AdminConfig configures the admin pages and OAuth linking. Set it before
// the first request; Store nil leaves the admin pages out.
type AdminConfig struct {
	// SessionKey signs sessions, CSRF tokens and OAuth flows (derive it from
	// CRMSYNC_SECRET_KEY; every web process must share it). Empty: a random
	// key per process, so sessions do not survive a restart.
	SessionKey []byte
	// BaseURL is the public base URL: OAuth redirect URIs are
	// BaseURL/connect/{connector}/callback, and https makes cookies Secure.
	BaseURL string
	// Store is what the pages need beyond the server's other interfaces.
	Store AdminStore
	// Limiter limits sign-in attempts; nil: an in-process limiter (one
	// process only).
	Limiter LoginLimiter
	// OAuth holds each connector's OAuth app (client id and secret) by
	// registry name; a connector without one cannot be connected.
	OAuth map[string]*oauth2.Config
	// APIBaseURL overrides a connector's API base (and so its OAuth
	// endpoints) by registry name: tests and the demo's sandbox CRM.
	APIBaseURL map[string]string
	// AuthURL overrides a connector's authorisation page by registry name,
	// for vendors whose page is global whatever the API base (amoCRM): the
	// demo's sandbox CRM.
	AuthURL map[string]string
	// HTTPClient sends the OAuth token requests; nil: http.DefaultClient.
	HTTPClient *http.Client
	// Connectors revokes an account's tokens at the CRM on disconnect when
	// it is a TokenRevoker (connectors.Resolver is); nil: tokens are only
	// deleted here.
	Connectors HookConnectors
	// OpsURL is the ops dashboard link shown to administrators; "" hides it.
	OpsURL string
	// SessionTTL: 0 means DefaultSessionTTL.
	SessionTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	st *adminState // set up by adminRoutes
}

// TokenRevoker revokes a linked account's tokens at its CRM. It returns
// connectors.ErrNoRevocation when the vendor has no way to.
type TokenRevoker interface {
	Revoke(ctx context.Context, accountID int64) error
}

// adminState is what the admin pages derive from AdminConfig once.
type adminState struct {
	key    []byte
	memLim *memoryLimiter
}

// AdminStore is what the admin pages need from storage besides the
// Directory, Accounts and Tenants interfaces. Every tenant-scoped method
// returns ENotFound for another tenant's ids.
type AdminStore interface {
	// AdminLogins returns the employees (of any tenant) whose login or email
	// is name and who have a password, with their bcrypt hashes.
	AdminLogins(ctx context.Context, name string) ([]AdminLogin, error)
	// RecentCalls returns the tenant's latest calls, newest first.
	RecentCalls(ctx context.Context, tenantID int64, limit int) ([]jobs.CallStatus, error)
	// LinkAccount stores a newly linked account, or relinks the tenant's
	// account with the same connector and external id.
	LinkAccount(ctx context.Context, tenantID int64, in LinkedAccount) (Account, error)
	// DisconnectAccount deletes the account's tokens and marks it
	// disconnected.
	DisconnectAccount(ctx context.Context, tenantID, accountID int64) error
}

// AdminLogin is a sign-in candidate.
type AdminLogin struct {
	TenantID     int64
	EmployeeID   int64
	Role         string
	PasswordHash string // bcrypt
}

// LinkedAccount is what an OAuth link produced.
type LinkedAccount struct {
	Connector  string
	Name       string
	ExternalID string
	BaseURL    string
	Token      *oauth2.Token
}

// setup derives the signing key and the fallback limiter; adminRoutes
// calls it once, before any request.
func (c *AdminConfig) setup() {
	st := &adminState{}
	switch {
	case len(c.SessionKey) >= 32:
		st.key = c.SessionKey
	case len(c.SessionKey) > 0:
		sum := sha256.Sum256(c.SessionKey)
		st.key = sum[:]
	default:
		st.key = []byte(randomToken(32))
	}
	st.memLim = newMemoryLimiter(c.now)
	c.st = st
}

func (c *AdminConfig) signer() signer { return signer{key: c.st.key} }

func (c *AdminConfig) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *AdminConfig) sessionTTL() time.Duration {
	if c.SessionTTL > 0 {
		return c.SessionTTL
	}
	return DefaultSessionTTL
}

func (c *AdminConfig) secure() bool { return strings.HasPrefix(c.BaseURL, "https://") }

func (c *AdminConfig) limiter() LoginLimiter {
	if c.Limiter != nil {
		return c.Limiter
	}
	return c.st.memLim
}

// adminRoutes registers the sign-in, the admin pages, OAuth linking and the
// pages' static files.
func (s *Server) adminRoutes() {
	if s.Admin.Store == nil {
		return
	}
	s.Admin.setup()
	if len(s.Admin.SessionKey) == 0 {
		s.Logger.Warn("web: no admin session key: sessions will not survive a restart or reach other web processes")
	}
	s.mux.Handle("GET /static/", staticHandler())
	s.mux.Handle("GET /login", s.pageHeaders(http.HandlerFunc(s.handleLoginPage)))
	s.mux.Handle("POST /login", s.pageHeaders(http.HandlerFunc(s.handleLogin)))
	s.mux.Handle("POST /logout", s.pageHeaders(http.HandlerFunc(s.handleLogout)))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
	})

	admins := []string{telephony.RoleAdministrator}
	everyone := []string{telephony.RoleAdministrator, telephony.RoleDepartmentHead}
	page := func(pattern string, roles []string, h func(http.ResponseWriter, *http.Request)) {
		s.mux.Handle(pattern, s.pageHeaders(s.requireRole(roles, http.HandlerFunc(h))))
	}
	page("GET /admin/{$}", everyone, s.handleOverview)
	page("GET /admin/integrations", admins, s.handleIntegrations)
	page("POST /admin/connect/{connector}", admins, s.handleConnect)
	page("GET /connect/{connector}/callback", admins, s.handleConnectCallback)
	page("POST /admin/accounts/{id}/sync", admins, s.handleAdminSync)
	page("POST /admin/accounts/{id}/disconnect", admins, s.handleDisconnect)
	page("GET /admin/accounts/{id}/mapping", everyone, s.handleMapping)
	page("POST /admin/accounts/{id}/mapping", admins, s.handleSetMapping)
	page("GET /admin/employees", everyone, s.handleAdminEmployees)
	page("POST /admin/employees/{id}/delete", admins, s.handleAdminDeleteEmployee)
	page("GET /admin/routing", admins, s.handleRoutingPage)
	page("POST /admin/routing", admins, s.handleSaveRouting)
	page("GET /admin/calls", everyone, s.handleCallsPage)
	s.mux.Handle("/admin/", s.pageHeaders(s.requireRole(everyone, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.pageError(w, r, telephony.Errorf(telephony.ENotFound, "", "no such page: %s %s", r.Method, r.URL.Path))
	}))))
}

// pageHeaders sets the headers every HTML page gets: no caching (pages hold
// CSRF tokens and tenant data), no framing, and a content policy that
// allows only our own files.
func (s *Server) pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}

// viewer is the signed-in employee of a request.
type viewer struct {
	Employee telephony.Employee
	Tenant   telephony.Tenant
	CSRF     string
}

// Admin reports whether the viewer administers the tenant.
func (v viewer) Admin() bool { return v.Employee.Role == telephony.RoleAdministrator }

type viewerKey struct{}

func viewerFrom(r *http.Request) viewer {
	v, _ := r.Context().Value(viewerKey{}).(viewer)
	return v
}

// requireRole lets a request through only with a valid session of a
// current employee whose role is one of roles; it puts the viewer and the
// tenant in the context (tenantFrom works as behind the API's
// authentication) and checks the CSRF token of every POST. Without a
// session, a GET is redirected to /login and anything else is 401; a
// role without access is 403.
func (s *Server) requireRole(roles []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.readSession(r)
		var e telephony.Employee
		var t telephony.Tenant
		var err error
		if ok {
			if e, err = s.Directory.Employee(r.Context(), sess.TenantID, sess.EmployeeID); err == nil {
				t, err = s.Tenants.Tenant(r.Context(), sess.TenantID)
			}
			switch {
			case telephony.IsNotFound(err):
				ok = false // deleted since sign-in
			case err != nil:
				s.pageError(w, r, err)
				return
			}
		}
		if !ok {
			s.setCookie(w, sessionCookie, "/", "", 0)
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.pageError(w, r, telephony.Errorf(telephony.EUnauthorized, "", "your session has ended: sign in again"))
			return
		}
		v := viewer{Employee: e, Tenant: t, CSRF: sess.CSRF}
		if !containsString(roles, e.Role) {
			ctx := context.WithValue(r.Context(), viewerKey{}, v)
			s.pageError(w, r.WithContext(ctx), telephony.Errorf(telephony.EForbidden, "", "%s", forbiddenMessage(e.Role)))
			return
		}
		if r.Method == http.MethodPost && (parseForm(w, r) != nil || !validCSRF(r, sess.CSRF)) {
			ctx := context.WithValue(r.Context(), viewerKey{}, v)
			s.pageError(w, r.WithContext(ctx), telephony.Errorf(telephony.EForbidden, "",
				"this form has expired or did not come from crmsync (CSRF check failed): reload the page and try again"))
			return
		}
		ctx := context.WithValue(r.Context(), viewerKey{}, v)
		ctx = context.WithValue(ctx, tenantKey{}, t)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func forbiddenMessage(role string) string {
	switch role {
	case telephony.RoleDepartmentHead:
		return "department heads see their department read-only; this needs an administrator"
	case telephony.RoleAdministrator:
		return "administrators only"
	}
	return "only administrators and department heads have access to the admin pages (your role: " + role + ")"
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// changed invalidates the tenant's routing snapshot in every router after
// a page changed what routing reads (accounts, links, settings, employees),
// before the page answers, as the API's invalidating does. A failure is
// logged: routers reload their snapshots after a while anyway.
func (s *Server) changed(r *http.Request) {
	if s.Routing.Invalidator == nil {
		return
	}
	t := tenantFrom(r)
	if err := s.Routing.Invalidator.InvalidateTenant(context.WithoutCancel(r.Context()), t.ID); err != nil {
		s.logger().Error("routing: invalidate tenant", "tenant_id", t.ID, "path", r.URL.Path, "err", err)
	}
}

// logger returns the server's logger, for handlers of pages.
func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}
