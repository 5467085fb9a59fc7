// Package config reads crmsync's settings from CRMSYNC_* environment
// variables. Only cmd imports it; packages take plain fields.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Secret is a string that never prints: fmt, %v and slog show REDACTED.
type Secret string

func (Secret) String() string               { return "REDACTED" }
func (Secret) GoString() string             { return "REDACTED" }
func (Secret) LogValue() slog.Value         { return slog.StringValue("REDACTED") }
func (Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// Reveal returns the secret's value, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

// Config is every setting of the process.
type Config struct {
	HTTPAddr string // CRMSYNC_HTTP_ADDR
	BaseURL  string // CRMSYNC_BASE_URL: how browsers and CRMs reach us
	SIPAddr  string // CRMSYNC_SIP_ADDR
	// SIPTrustedCIDRs are the PBX networks whose SIP requests get answers.
	SIPTrustedCIDRs []netip.Prefix // CRMSYNC_SIP_TRUSTED_CIDRS

	DatabaseURL string // CRMSYNC_DATABASE_URL; empty: SQLite under DataDir
	DataDir     string // CRMSYNC_DATA_DIR
	RedisURL    string // CRMSYNC_REDIS_URL; empty: in-process Redis
	SecretKey   Secret // CRMSYNC_SECRET_KEY

	LogLevel  slog.Level // CRMSYNC_LOG_LEVEL
	LogFormat string     // CRMSYNC_LOG_FORMAT: text | json

	Worker Worker
	Ops    Ops

	ShutdownTimeout time.Duration // CRMSYNC_SHUTDOWN_TIMEOUT

	// MetricsAddr, when set, is where a process without the web role
	// (worker, router) serves /metrics; the web role serves it otherwise.
	MetricsAddr string // CRMSYNC_METRICS_ADDR

	// OAuth holds each connector's OAuth app, by connector name.
	OAuth map[string]OAuthApp
}

// Worker configures the asynq worker role.
type Worker struct {
	Concurrency int            // CRMSYNC_WORKER_CONCURRENCY
	Queues      map[string]int // CRMSYNC_QUEUE_WEIGHTS, e.g. critical=6,default=3,low=1
	// SyncInterval is the periodic CRM user sync interval of accounts
	// without one of their own (crm_accounts.sync_interval_s = 0).
	SyncInterval time.Duration // CRMSYNC_SYNC_INTERVAL
}

// Ops configures the operator endpoints of the web role.
type Ops struct {
	User     string // CRMSYNC_OPS_USER
	Password Secret // CRMSYNC_OPS_PASSWORD; empty: the dashboard is disabled
	ReadOnly bool   // CRMSYNC_OPS_READONLY
}

// MinOpsPasswordLen is the shortest CRMSYNC_OPS_PASSWORD accepted.
const MinOpsPasswordLen = 12

// OAuthApp is one connector's registered OAuth application.
type OAuthApp struct {
	ClientID     string // CRMSYNC_OAUTH_<NAME>_CLIENT_ID
	ClientSecret Secret // CRMSYNC_OAUTH_<NAME>_CLIENT_SECRET
}

// Var describes one environment variable, for --help and the README.
type Var struct {
	Name    string
	Default string
	Help    string
}

// MinSecretKeyLen is the shortest CRMSYNC_SECRET_KEY accepted.
const MinSecretKeyLen = 32

// Vars lists every variable Load reads. The README's table is checked
// against it.
var Vars = []Var{
	{"CRMSYNC_HTTP_ADDR", "127.0.0.1:8080", "HTTP listen address (API, webhooks, admin, /metrics, /ops/queues)"},
	{"CRMSYNC_BASE_URL", "http://<CRMSYNC_HTTP_ADDR>", "public base URL, used in OAuth redirect URIs and webhook URLs"},
	{"CRMSYNC_SIP_ADDR", "127.0.0.1:5060", "SIP listen address of the router (UDP and TCP)"},
	{"CRMSYNC_SIP_TRUSTED_CIDRS", "127.0.0.0/8,::1/128", "comma-separated PBX networks whose SIP requests are answered; others are dropped"},
	{"CRMSYNC_DATABASE_URL", "(unset: SQLite in CRMSYNC_DATA_DIR)", "postgres://user:pass@host/db for PostgreSQL, or sqlite://PATH"},
	{"CRMSYNC_DATA_DIR", "./data", "where the embedded SQLite file and generated secret key live"},
	{"CRMSYNC_REDIS_URL", "(unset: in-process Redis)", "redis://host:6379/0; unset runs an in-process Redis for trying out (single process, no queue survives a restart)"},
	{"CRMSYNC_SECRET_KEY", "(unset: generated in CRMSYNC_DATA_DIR)", "at least 32 characters; encrypts OAuth tokens and signing secrets at rest. Required with CRMSYNC_DATABASE_URL"},
	{"CRMSYNC_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"CRMSYNC_LOG_FORMAT", "text", "text or json"},
	{"CRMSYNC_WORKER_CONCURRENCY", "10", "tasks one worker process runs at once"},
	{"CRMSYNC_QUEUE_WEIGHTS", "critical=6,default=3,low=1", "asynq queue priorities: critical (call push-back), default (sync), low (warm-ups)"},
	{"CRMSYNC_SHUTDOWN_TIMEOUT", "10s", "how long SIGTERM waits for in-flight work"},
	{"CRMSYNC_SYNC_INTERVAL", "15m", "periodic CRM user sync interval of accounts without their own (1m to 24h)"},
	{"CRMSYNC_METRICS_ADDR", "(unset: none)", "host:port where a process without the web role (worker, router) serves /metrics; web and serve serve it on CRMSYNC_HTTP_ADDR"},
	{"CRMSYNC_OPS_USER", "ops", "user name for the /ops/queues dashboard (HTTP Basic auth)"},
	{"CRMSYNC_OPS_PASSWORD", "(unset: dashboard disabled)", "password for /ops/queues, at least 12 characters; without it the dashboard answers 403"},
	{"CRMSYNC_OPS_READONLY", "true", "true shows the dashboard read-only; false also allows retrying, deleting and pausing tasks and queues"},
	{"CRMSYNC_OAUTH_<NAME>_CLIENT_ID", "", "OAuth client id of connector NAME (e.g. CRMSYNC_OAUTH_HUBSPOT_CLIENT_ID)"},
	{"CRMSYNC_OAUTH_<NAME>_CLIENT_SECRET", "", "OAuth client secret of connector NAME"},
}

// Default returns the configuration with every default filled in.
func Default() Config {
	return Config{
		HTTPAddr:        "127.0.0.1:8080",
		SIPAddr:         "127.0.0.1:5060",
		SIPTrustedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		DataDir:         "./data",
		LogLevel:        slog.LevelInfo,
		LogFormat:       "text",
		Worker: Worker{
			Concurrency:  10,
			Queues:       map[string]int{"critical": 6, "default": 3, "low": 1},
			SyncInterval: 15 * time.Minute,
		},
		Ops:             Ops{User: "ops", ReadOnly: true},
		ShutdownTimeout: 10 * time.Second,
		OAuth:           map[string]OAuthApp{},
	}
}

// Load reads the configuration through getenv (os.Getenv in main, a map in
// tests). connectorNames are the registered connectors, whose OAuth
// variables it reads. It reports every bad variable at once.
func Load(getenv func(string) string, connectorNames []string) (Config, error) {
	c := Default()
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	str := func(name string, dst *string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}

	str("CRMSYNC_HTTP_ADDR", &c.HTTPAddr)
	str("CRMSYNC_BASE_URL", &c.BaseURL)
	str("CRMSYNC_SIP_ADDR", &c.SIPAddr)
	str("CRMSYNC_DATABASE_URL", &c.DatabaseURL)
	str("CRMSYNC_DATA_DIR", &c.DataDir)
	str("CRMSYNC_REDIS_URL", &c.RedisURL)
	str("CRMSYNC_LOG_FORMAT", &c.LogFormat)
	c.SecretKey = Secret(strings.TrimSpace(getenv("CRMSYNC_SECRET_KEY")))

	for _, name := range []string{"CRMSYNC_HTTP_ADDR", "CRMSYNC_SIP_ADDR"} {
		addr := c.HTTPAddr
		if name == "CRMSYNC_SIP_ADDR" {
			addr = c.SIPAddr
		}
		if _, port, err := net.SplitHostPort(addr); err != nil {
			bad(name, "must be host:port (e.g. 127.0.0.1:8080), got %q", addr)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad(name, "port must be a number from 0 to 65535, got %q", port)
		}
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.HTTPAddr
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("CRMSYNC_BASE_URL", "must be an absolute http(s) URL, got %q", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")

	if v := getenv("CRMSYNC_SIP_TRUSTED_CIDRS"); strings.TrimSpace(v) != "" {
		c.SIPTrustedCIDRs = nil
		for _, part := range strings.Split(v, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(part))
			if err != nil {
				bad("CRMSYNC_SIP_TRUSTED_CIDRS", "%q is not a CIDR such as 10.0.0.0/8", strings.TrimSpace(part))
				continue
			}
			c.SIPTrustedCIDRs = append(c.SIPTrustedCIDRs, p.Masked())
		}
	}

	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		switch {
		case err != nil:
			bad("CRMSYNC_DATABASE_URL", "is not a URL")
		case u.Scheme != "postgres" && u.Scheme != "postgresql" && u.Scheme != "sqlite":
			bad("CRMSYNC_DATABASE_URL", "scheme must be postgres:// or sqlite://, got %q", u.Scheme)
		case u.Scheme != "sqlite" && c.SecretKey == "":
			bad("CRMSYNC_SECRET_KEY", "is required when CRMSYNC_DATABASE_URL points at PostgreSQL (it encrypts OAuth tokens)")
		}
	}
	if c.SecretKey != "" && len(c.SecretKey) < MinSecretKeyLen {
		bad("CRMSYNC_SECRET_KEY", "must be at least %d characters (try: openssl rand -base64 32)", MinSecretKeyLen)
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("CRMSYNC_REDIS_URL", "must be redis://host:port/db or rediss://…")
		}
	}

	if v := getenv("CRMSYNC_LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("CRMSYNC_LOG_LEVEL", "must be debug, info, warn or error, got %q", v)
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("CRMSYNC_LOG_FORMAT", "must be text or json, got %q", c.LogFormat)
	}

	if v := getenv("CRMSYNC_WORKER_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad("CRMSYNC_WORKER_CONCURRENCY", "must be a whole number from 1 to 1000, got %q", v)
		}
		c.Worker.Concurrency = n
	}
	if v := getenv("CRMSYNC_QUEUE_WEIGHTS"); v != "" {
		q, err := parseWeights(v)
		if err != nil {
			bad("CRMSYNC_QUEUE_WEIGHTS", "%v", err)
		}
		c.Worker.Queues = q
	}
	if v := getenv("CRMSYNC_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad("CRMSYNC_SHUTDOWN_TIMEOUT", "must be a duration such as 10s, got %q", v)
		}
		c.ShutdownTimeout = d
	}

	loadOps(getenv, &c, bad)

	for _, name := range connectorNames {
		up := strings.ToUpper(name)
		app := OAuthApp{
			ClientID:     strings.TrimSpace(getenv("CRMSYNC_OAUTH_" + up + "_CLIENT_ID")),
			ClientSecret: Secret(strings.TrimSpace(getenv("CRMSYNC_OAUTH_" + up + "_CLIENT_SECRET"))),
		}
		if (app.ClientID == "") != (app.ClientSecret == "") {
			bad("CRMSYNC_OAUTH_"+up+"_CLIENT_ID", "and CRMSYNC_OAUTH_%s_CLIENT_SECRET must be set together", up)
		}
		if app.ClientID != "" {
			c.OAuth[name] = app
		}
	}
	return c, errors.Join(errs...)
}

// SQLitePath is where the embedded database lives when no URL is set.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "crmsync.db") }

func parseWeights(v string) (map[string]int, error) {
	known := map[string]bool{"critical": true, "default": true, "low": true}
	out := map[string]int{}
	for _, part := range strings.Split(v, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		switch {
		case !ok || err != nil || n < 1:
			return nil, fmt.Errorf("%q must be queue=weight with a weight of 1 or more", part)
		case !known[name]:
			return nil, fmt.Errorf("unknown queue %q (queues are critical, default and low)", name)
		}
		out[name] = n
	}
	for name := range known {
		if out[name] == 0 {
			return nil, fmt.Errorf("queue %s needs a weight", name)
		}
	}
	return out, nil
}

// loadOps reads the sync, worker metrics and ops dashboard variables.
func loadOps(getenv func(string) string, c *Config, bad func(name, format string, args ...any)) {
	if v := strings.TrimSpace(getenv("CRMSYNC_SYNC_INTERVAL")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 24*time.Hour {
			bad("CRMSYNC_SYNC_INTERVAL", "must be a duration from 1m to 24h, got %q", v)
		}
		c.Worker.SyncInterval = d
	}
	if v := strings.TrimSpace(getenv("CRMSYNC_METRICS_ADDR")); v != "" {
		if _, _, err := net.SplitHostPort(v); err != nil {
			bad("CRMSYNC_METRICS_ADDR", "must be host:port (e.g. 127.0.0.1:9091), got %q", v)
		}
		c.MetricsAddr = v
	}
	if v := strings.TrimSpace(getenv("CRMSYNC_OPS_USER")); v != "" {
		c.Ops.User = v
	}
	c.Ops.Password = Secret(strings.TrimSpace(getenv("CRMSYNC_OPS_PASSWORD")))
	if c.Ops.Password != "" && len([]rune(string(c.Ops.Password))) < MinOpsPasswordLen {
		bad("CRMSYNC_OPS_PASSWORD", "must be at least %d characters", MinOpsPasswordLen)
	}
	if v := strings.TrimSpace(getenv("CRMSYNC_OPS_READONLY")); v != "" {
		ro, err := strconv.ParseBool(v)
		if err != nil {
			bad("CRMSYNC_OPS_READONLY", "must be true or false, got %q", v)
		}
		c.Ops.ReadOnly = ro
	}
}
