package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/crmsync/crmsync/telephony"
)

// Sign-in: an employee with role administrator or department_head, by
// login or email and password (bcrypt, as the store hashes it). Attempts
// are limited per client address and login (LoginAttempts per
// LoginWindow) and per address (LoginAttemptsPerIP per LoginWindow);
// every attempt counts, and a successful one clears its address+login
// budget. The client address is the connection's: a proxy in front must
// not hide it (X-Forwarded-For is not trusted).

// Sign-in limits.
const (
	LoginAttempts      = 5
	LoginAttemptsPerIP = 30
	LoginWindow        = 15 * time.Minute
)

// LoginLimiter limits sign-in attempts by key.
type LoginLimiter interface {
	// Allow records one attempt under key, at most limit per LoginWindow,
	// and returns 0 when it may proceed or how long until one may.
	Allow(ctx context.Context, key string, limit int) (time.Duration, error)
	// Reset forgets key's attempts.
	Reset(ctx context.Context, key string) error
}

// RedisLoginLimiter is a LoginLimiter shared by every web process through
// Redis (GCRA, github.com/go-redis/redis_rate).
type RedisLoginLimiter struct {
	Redis redis.UniversalClient

	once sync.Once
	lim  *redis_rate.Limiter
}

func (l *RedisLoginLimiter) limiter() *redis_rate.Limiter {
	l.once.Do(func() { l.lim = redis_rate.NewLimiter(l.Redis) })
	return l.lim
}

// Allow implements LoginLimiter.
func (l *RedisLoginLimiter) Allow(ctx context.Context, key string, limit int) (time.Duration, error) {
	res, err := l.limiter().Allow(ctx, "crmsync:login:"+key, redis_rate.Limit{Rate: limit, Burst: limit, Period: LoginWindow})
	if err != nil {
		return 0, fmt.Errorf("login limiter: %w", err)
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	return max(res.RetryAfter, time.Second), nil
}

// Reset implements LoginLimiter.
func (l *RedisLoginLimiter) Reset(ctx context.Context, key string) error {
	return l.limiter().Reset(ctx, "crmsync:login:"+key)
}

// memoryLimiter is the in-process LoginLimiter: a sliding log per key.
type memoryLimiter struct {
	now  func() time.Time
	mu   sync.Mutex
	hits map[string][]time.Time
}

func newMemoryLimiter(now func() time.Time) *memoryLimiter {
	return &memoryLimiter{now: now, hits: map[string][]time.Time{}}
}

func (l *memoryLimiter) Allow(_ context.Context, key string, limit int) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	kept := l.hits[key][:0]
	for _, t := range l.hits[key] {
		if now.Sub(t) < LoginWindow {
			kept = append(kept, t)
		}
	}
	if len(kept) >= limit {
		l.hits[key] = kept
		return kept[0].Add(LoginWindow).Sub(now), nil
	}
	l.hits[key] = append(kept, now)
	return 0, nil
}

func (l *memoryLimiter) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.hits, key)
	return nil
}

// dummyHash is compared against when nobody has the login, so a wrong
// login costs as much time as a wrong password.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("crmsync: nobody has this login"), bcrypt.DefaultCost)
	return h
})

// loginView is the sign-in page.
type loginView struct {
	Login, Next, CSRF, Error string
}

// handleLoginPage serves GET /login.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.readSession(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginView{Next: r.URL.Query().Get("next")})
}

// renderLogin shows the sign-in form with a fresh form token.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	token := randomToken(24)
	signed, err := s.Admin.signer().sign(purposeLogin, token)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.setCookie(w, loginCookie, "/login", signed, time.Hour)
	v.CSRF, v.Next = token, safeNext(v.Next)
	s.render(w, r, status, "login", pageData{Title: "Sign in", Page: v})
}

// handleLogin serves POST /login.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.pageError(w, r, telephony.Errorf(telephony.EInvalid, "", "the sign-in form could not be read"))
		return
	}
	v := loginView{Login: strings.TrimSpace(r.PostForm.Get("login")), Next: r.PostForm.Get("next")}
	var token string
	if !s.readSigned(r, loginCookie, purposeLogin, &token) || !validCSRF(r, token) {
		v.Error = "The sign-in form expired. Please try again."
		s.renderLogin(w, r, http.StatusForbidden, v)
		return
	}
	password := r.PostForm.Get("password")
	if v.Login == "" || password == "" {
		v.Error = "Enter your login (or email) and password."
		s.renderLogin(w, r, http.StatusBadRequest, v)
		return
	}
	ip := clientIP(r)
	pairKey := ip + "|" + strings.ToLower(v.Login)
	lim := s.Admin.limiter()
	for _, l := range []struct {
		key   string
		limit int
	}{{"ip:" + ip, LoginAttemptsPerIP}, {"pair:" + pairKey, LoginAttempts}} {
		wait, err := lim.Allow(r.Context(), l.key, l.limit)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		if wait > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(wait.Round(time.Second)/time.Second)))
			v.Error = fmt.Sprintf("Too many sign-in attempts. Try again in %s.", humanDuration(wait))
			s.renderLogin(w, r, http.StatusTooManyRequests, v)
			return
		}
	}
	who, err := s.checkPassword(r.Context(), v.Login, password)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	switch {
	case who == nil:
		v.Error = "Wrong login or password."
		s.renderLogin(w, r, http.StatusUnauthorized, v)
		return
	case who.Role != telephony.RoleAdministrator && who.Role != telephony.RoleDepartmentHead:
		v.Error = "Only administrators and department heads can sign in to the admin pages."
		s.renderLogin(w, r, http.StatusForbidden, v)
		return
	}
	_ = lim.Reset(r.Context(), "pair:"+pairKey) //nolint:errcheck // the budget refills anyway
	if err := s.startSession(w, who.TenantID, who.EmployeeID, who.Role); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.setCookie(w, loginCookie, "/login", "", 0)
	s.logger().Info("admin signed in", "tenant_id", who.TenantID, "employee_id", who.EmployeeID, "role", who.Role)
	http.Redirect(w, r, safeNext(v.Next), http.StatusSeeOther)
}

// checkPassword returns the candidate whose password matches, or nil.
func (s *Server) checkPassword(ctx context.Context, login, password string) (*AdminLogin, error) {
	cands, err := s.Admin.Store.AdminLogins(ctx, login)
	if err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return nil, nil
	}
	// An administrator or department head wins over another role with the
	// same email and password in another tenant.
	var found *AdminLogin
	for i := range cands {
		c := &cands[i]
		if bcrypt.CompareHashAndPassword([]byte(c.PasswordHash), []byte(password)) != nil {
			continue
		}
		if c.Role == telephony.RoleAdministrator || c.Role == telephony.RoleDepartmentHead {
			return c, nil
		}
		if found == nil {
			found = c
		}
	}
	return found, nil
}

// handleLogout serves POST /logout.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.readSession(r)
	if ok && (parseForm(w, r) != nil || !validCSRF(r, sess.CSRF)) {
		s.pageError(w, r, telephony.Errorf(telephony.EForbidden, "", "this form has expired: reload the page and try again"))
		return
	}
	s.setCookie(w, sessionCookie, "/", "", 0)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on our admin pages.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/admin/") && !strings.HasPrefix(next, "/connect/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n") {
		return "/admin/"
	}
	return next
}

// clientIP is the connection's address without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// humanDuration rounds d up to whole minutes, or seconds under a minute.
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int((d+time.Second-1)/time.Second))
	}
	m := int((d + time.Minute - 1) / time.Minute)
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}
