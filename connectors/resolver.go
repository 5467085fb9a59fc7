package connectors

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// Account statuses, as stored in crm_accounts.status.
const (
	StatusConnected    = "connected"
	StatusNeedsRelink  = "needs_relink"
	StatusDisconnected = "disconnected"
)

// Account is what the Resolver needs to know about a linked CRM account.
type Account struct {
	ID        int64
	Connector string // registry name
	BaseURL   string // empty: Info.DefaultBaseURL
	Status    string // StatusConnected, StatusNeedsRelink or StatusDisconnected
	// ExternalID is the CRM's own id of the account (HubSpot's portal id),
	// for connectors whose app-level webhooks mix accounts.
	ExternalID string
	// WebhookSecret is the account's secret that the CRM's webhooks are
	// checked against (decrypted; empty when none was received). Never log
	// it or return it through an API.
	WebhookSecret string
}

// AccountStore is what the Resolver needs from storage: the account and its
// token. store implements it.
type AccountStore interface {
	TokenStore
	// FindAccount returns the account with id. It returns an error
	// wrapping a not-found error when there is none.
	FindAccount(ctx context.Context, id int64) (Account, error)
}

// DefaultResolverTTL is how long a Resolver keeps a built connector.
const DefaultResolverTTL = 10 * time.Minute

// Resolver turns an account id into a live Connector: it loads the account,
// builds its OAuth config (the app's from OAuth plus the account's
// endpoint), a TokenSource that saves every refresh, and the Transport with
// the connector's rate limits, then calls Info.New. Connectors are cached
// per account for TTL; Invalidate drops one at once (after a relink).
// Build one per process and share it; set the fields before first use.
type Resolver struct {
	Accounts AccountStore
	// OAuth holds each connector's OAuth app (client id, secret, redirect
	// URL, scopes) by registry name; Endpoint is filled in per account.
	OAuth map[string]*oauth2.Config
	// Redis holds the refresh locks and rate limits shared by every
	// process. Nil: in-process refresh serialisation and no client-side
	// limits (tests only).
	Redis redis.UniversalClient
	// Base sends requests (nil: http.DefaultTransport); tests point it at
	// their fakes' transports.
	Base     http.RoundTripper
	Observer Observer
	TTL      time.Duration // 0: DefaultResolverTTL
	// NoRateLimit turns the client-side limits off (tests of other things).
	NoRateLimit bool

	once    sync.Once
	limiter *RateLimiter
	builds  singleflight.Group // one build per account at a time
	mu      sync.Mutex
	cache   map[int64]resolved
}

type resolved struct {
	conn      Connector
	tokens    *TokenSource
	revokeURL string // Info.RevokeURL's, "" when the vendor has none
	expires   time.Time
}

// ConnectorFor returns the connector of account id. It returns an error
// wrapping ErrUnauthorized when the account needs relinking or is
// disconnected, and the store's error when the account is unknown.
func (r *Resolver) ConnectorFor(ctx context.Context, id int64) (Connector, error) {
	c, err := r.resolve(ctx, id)
	return c.conn, err
}

// TokenSource returns the token source of account id, building the
// connector if needed (web's "test connection" and revocation use it).
func (r *Resolver) TokenSource(ctx context.Context, id int64) (*TokenSource, error) {
	c, err := r.resolve(ctx, id)
	return c.tokens, err
}

// resolve returns account id's cached connector, building it (once, for
// every concurrent caller) when it is missing or stale.
func (r *Resolver) resolve(ctx context.Context, id int64) (resolved, error) {
	r.mu.Lock()
	c, ok := r.cache[id]
	r.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c, nil
	}
	v, err, _ := r.builds.Do(strconv.FormatInt(id, 10), func() (any, error) {
		c, err := r.build(ctx, id)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if r.cache == nil {
			r.cache = map[int64]resolved{}
		}
		r.cache[id] = c
		r.mu.Unlock()
		return c, nil
	})
	if err != nil {
		return resolved{}, err
	}
	return v.(resolved), nil
}

// Invalidate drops the cached connector of account id.
func (r *Resolver) Invalidate(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cache, id)
}

func (r *Resolver) build(ctx context.Context, id int64) (resolved, error) {
	acct, err := r.Accounts.FindAccount(ctx, id)
	if err != nil {
		return resolved{}, fmt.Errorf("connectors: account %d: %w", id, err)
	}
	if acct.Status == StatusNeedsRelink || acct.Status == StatusDisconnected {
		return resolved{}, fmt.Errorf("connectors: account %d is %s: %w", id, acct.Status, ErrUnauthorized)
	}
	info, err := Lookup(acct.Connector)
	if err != nil {
		return resolved{}, fmt.Errorf("connectors: account %d: %w", id, err)
	}
	app, ok := r.OAuth[acct.Connector]
	if !ok || app == nil {
		return resolved{}, fmt.Errorf("connectors: account %d: no OAuth app configured for %s", id, acct.Connector)
	}
	baseURL := acct.BaseURL
	if baseURL == "" {
		baseURL = info.DefaultBaseURL
	}
	if baseURL == "" {
		return resolved{}, fmt.Errorf("connectors: account %d: no base URL for %s", id, acct.Connector)
	}
	cfg := *app
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = info.Scopes
	}
	if info.Endpoint != nil {
		cfg.Endpoint = info.Endpoint(baseURL)
	}
	r.once.Do(func() {
		if r.Redis != nil && !r.NoRateLimit {
			r.limiter = NewRateLimiter(r.Redis)
		}
	})
	ts := &TokenSource{
		AccountID:  id,
		Store:      r.Accounts,
		Redis:      r.Redis,
		Config:     &cfg,
		Refresh:    info.Refresh,
		HTTPClient: &http.Client{Transport: r.Base, Timeout: refreshTimeout},
	}
	tr := &Transport{
		Connector: info.Name,
		AccountID: id,
		Base:      r.Base,
		Tokens:    ts,
		Limiter:   r.limiter,
		Limits:    info.Limits,
		Observer:  r.Observer,
	}
	conn, err := info.New(Credentials{
		AccountID:     id,
		BaseURL:       baseURL,
		HTTPClient:    tr.Client(),
		ClientSecret:  cfg.ClientSecret,
		WebhookSecret: acct.WebhookSecret,
		ExternalID:    acct.ExternalID,
	})
	if err != nil {
		return resolved{}, fmt.Errorf("connectors: account %d: new %s: %w", id, info.Name, err)
	}
	ttl := r.TTL
	if ttl <= 0 {
		ttl = DefaultResolverTTL
	}
	c := resolved{conn: conn, tokens: ts, expires: time.Now().Add(ttl)}
	if info.RevokeURL != nil {
		c.revokeURL = info.RevokeURL(baseURL)
	}
	return c, nil
}
