package connectors

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Info describes a registered connector: how to build it, how to link an
// account to it through OAuth, and how fast it may be called.
type Info struct {
	Name        string // registry key and package name, e.g. "hubspot"
	DisplayName string // for people, e.g. "HubSpot"

	// Kinds says what each entity kind means in this CRM, for the README and
	// the admin page. A kind missing here is unsupported.
	Kinds map[EntityKind]string

	// DefaultBaseURL is the API base when an account has none of its own.
	DefaultBaseURL string

	// Scopes are the OAuth scopes an account is linked with.
	Scopes []string
	// Endpoint returns the OAuth endpoints for an account whose API lives at
	// baseURL (amoCRM's token URL is per account; HubSpot's is global).
	Endpoint func(baseURL string) oauth2.Endpoint
	// WebhookAccounts, when set, marks the vendor's webhooks as app-level:
	// one URL receives every account's events (HubSpot), posted to
	// /hooks/{name}/app. It returns the external account ids (Account's
	// ExternalID) that body's events concern, without verifying anything;
	// each account's WebhookParser then verifies the request and keeps its
	// own events only.
	WebhookAccounts func(body []byte) ([]string, error)
	// RevokeURL, when set, returns the vendor's RFC 7009 token revocation
	// endpoint for an account whose API lives at baseURL (Resolver.Revoke);
	// nil: the vendor has none.
	RevokeURL func(baseURL string) string
	// PKCE is true when the vendor's authorisation server supports PKCE.
	PKCE bool
	// Exchange, when set, replaces x/oauth2's authorization-code exchange
	// for vendors whose token endpoint is not standard (Bitrix24's is a
	// GET with the secret in the query). cfg.Endpoint is the account's.
	Exchange func(ctx context.Context, cfg *oauth2.Config, code string) (*oauth2.Token, error)
	// Refresh, when set, replaces x/oauth2's refresh request for vendors whose
	// token endpoint needs more than the standard (amoCRM wants redirect_uri,
	// Bitrix24 a GET). It must return the new token, including a rotated
	// refresh token.
	Refresh func(ctx context.Context, cfg *oauth2.Config, refreshToken string) (*oauth2.Token, error)

	// Limits are the vendor's documented per-account request rates.
	Limits []Limit

	// New builds a connector. It must be cheap and free of side effects: no
	// network or disk (credential checks happen on first use).
	New func(Credentials) (Connector, error)
}

// Limit is one documented request rate: at most Rate requests per Per for
// every request Match accepts (nil Match: every request).
type Limit struct {
	Name  string
	Rate  int
	Per   time.Duration
	Match func(*http.Request) bool
}

// Credentials is everything a connector gets to reach one account.
type Credentials struct {
	AccountID int64
	// BaseURL is the account's API base (a test server in tests).
	BaseURL string
	// HTTPClient authenticates, rate-limits and retries; connectors use it
	// for every request. Nil means http.DefaultClient (tests only).
	HTTPClient *http.Client
	// ClientSecret is the OAuth app's secret, for webhook signatures.
	ClientSecret string
	// ExternalID is the CRM's own id of the account (Account's).
	ExternalID string
	// WebhookSecret is the account's own webhook secret (Account's), for
	// CRMs whose webhooks carry a per-installation token instead of a
	// signature. Empty when none was received yet.
	WebhookSecret string
}

var (
	mu       sync.RWMutex
	registry = map[string]Info{}
)

// Register makes a connector available by name. Call it from the connector
// package's init function; it panics on a bad or duplicate entry.
func Register(info Info) {
	mu.Lock()
	defer mu.Unlock()
	if info.Name == "" || info.New == nil {
		panic("connectors: Register needs a Name and a New func")
	}
	if _, dup := registry[info.Name]; dup {
		panic("connectors: Register called twice for " + info.Name)
	}
	registry[info.Name] = info
}

// Lookup returns the connector registered under name.
func Lookup(name string) (Info, error) {
	mu.RLock()
	defer mu.RUnlock()
	info, ok := registry[name]
	if !ok {
		return Info{}, fmt.Errorf("connectors: unknown connector %q", name)
	}
	return info, nil
}

// Names returns the registered connector names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
