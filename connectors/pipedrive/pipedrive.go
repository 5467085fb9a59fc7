// Package pipedrive is the Pipedrive CRM connector (API v1 and v2).
//
// # Accounts and OAuth
//
// Pipedrive's OAuth server is global (oauth.pipedrive.com); the token call
// authenticates the app with HTTP Basic (x/oauth2's AuthStyleInHeader).
// Every token answer names the company's own API host in api_domain (e.g.
// https://acme.pipedrive.com), and all API calls go there: the linking code
// must store BaseURL(tok) as the account's base URL (connectors.Account.BaseURL)
// when it stores the token, since the token store keeps no extras.
// Info.DefaultBaseURL is empty for that reason. Access tokens live about an
// hour; a refresh token expires when unused for 60 days (each use restarts
// the clock), so an account must be used at least that often: the periodic
// user sync does that. Scopes are fixed in the app registration, not asked
// for in the authorisation URL (Scopes lists what the app needs).
//
// # Entity kinds
//
//   - contact: a person whose phone matches (GET /api/v2/persons/search,
//     fields=phone); the owner is the person's owner.
//   - deal: a deal of such a person (GET /api/v2/deals?person_id=, all
//     statuses that are not deleted); closed when won or lost.
//   - lead: a lead of such a person (GET /v1/leads?person_id= and
//     /v1/leads/archived?person_id=); closed when archived (a lead that is
//     converted to a deal leaves the inbox).
//
// The search asks for the number's national digits, not exact matches
// (Pipedrive's exact match compares whole strings, so "+7 916 …" would not
// match "+7916…"), and every hit is re-checked with connectors.SamePhone.
//
// # Calls
//
// A call is written as a call log (POST /v1/callLogs): answering user as
// user_id, the outcome, duration in seconds, both numbers, start and end,
// the entity (deal_id or lead_id, else person_id), and an HTML note with the
// category, value, comment and recording link. The recording is linked, not
// uploaded: the connector's HTTP client carries the account's Pipedrive
// token, which must never go to the recording host, and copying audio would
// put a download of unbounded size on the call-logging path. Pipedrive
// cannot update a call log (its API has no PUT or PATCH for one), so a
// later event about the same call becomes a note on the same entity (POST
// /v1/notes), which names the call log; the note's id is kept in
// CallRef.Extra["note_id"], and events after that rewrite that note (PUT
// /v1/notes/{id}). Callers must therefore store the CallRef every LogCall
// returns, updates included. Only users with account-settings access may
// log calls for other users, so link the account as a Pipedrive admin.
//
// Besides Connector, the Client is a TaskCreator (a "task" activity),
// EntityCreator (a person, with a lead or deal for it), OwnedCounter and
// WebhookParser (webhooks v2, HTTP Basic credentials derived from the app's
// client secret: see WebhookAuth).
//
// # Rate limits
//
// Pipedrive charges every request tokens from a daily per-company budget
// and also limits bursts per access token in a 2-second window, reporting
// the window in x-ratelimit-limit/-remaining/-reset on every answer. Each
// Client paces itself from those headers: when the window is spent it
// waits for the reset (or, when that does not fit the caller's deadline,
// returns a *connectors.RateLimitError without sending), so it slows down
// before Pipedrive answers 429. Info.Limits adds a conservative shared
// limit for the burst window; the daily budget is not modelled there, as a
// limiter that spreads a day's budget evenly would space requests tens of
// seconds apart: running out of it surfaces as a 429 (RateLimitError with
// Retry-After).
package pipedrive

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
)

// Name is the connector's registry name.
const Name = "pipedrive"

// Pipedrive's OAuth endpoints (API-NOTES §4.1).
const (
	AuthURL  = "https://oauth.pipedrive.com/oauth/authorize"
	TokenURL = "https://oauth.pipedrive.com/oauth/token"
	// RevokeEndpoint revokes a refresh token (RFC 7009, Basic client
	// authentication; pipedrive.readme.io/docs/app-uninstallation).
	RevokeEndpoint = "https://oauth.pipedrive.com/oauth/revoke"

	authPath   = "/oauth/authorize"
	tokenPath  = "/oauth/token"
	revokePath = "/oauth/revoke"
)

// RevokeURL returns the revocation endpoint for an account whose API lives
// at baseURL: Pipedrive's global one, or the test server's as Endpoint does.
func RevokeURL(baseURL string) string {
	base := strings.TrimRight(baseURL, "/")
	if u, err := url.Parse(base); base == "" || err != nil || isPipedriveHost(u.Hostname()) {
		return RevokeEndpoint
	}
	return base + revokePath
}

// RefreshTokenIdleTTL is how long a refresh token survives unused.
const RefreshTokenIdleTTL = 60 * 24 * time.Hour

// Kinds says what each entity kind means in Pipedrive.
var Kinds = map[connectors.EntityKind]string{
	connectors.KindLead:    "Leads (person's)",
	connectors.KindDeal:    "Deals (person's)",
	connectors.KindContact: "Persons",
}

// Scopes are the OAuth scopes the app must be registered with: users
// (users:read), persons and their notes (contacts:full), deals and their
// notes (deals:full), leads (leads:full: read and create), tasks
// (activities:full) and call logs (phone-integration). Every app has
// "base".
var Scopes = []string{
	"base",
	"users:read",
	"contacts:full",
	"deals:full",
	"leads:full",
	"activities:full",
	"phone-integration",
}

// BurstLimit approximates Pipedrive's per-token burst window for the shared
// client-side limiter: 20 requests per 2 seconds, the smallest plan's
// documented window. Each Client also paces itself from the answers'
// headers, which tell the account's real window.
var BurstLimit = connectors.Limit{Name: "burst", Rate: 20, Per: 2 * time.Second}

// Endpoint returns the OAuth endpoints (Basic client authentication) for
// an account whose API lives at baseURL. Pipedrive's endpoints are global;
// a baseURL that is not a pipedrive.com host (a test server) gets both on
// that host, so tests can run the whole flow against a fake.
func Endpoint(baseURL string) oauth2.Endpoint {
	base := strings.TrimRight(baseURL, "/")
	if u, err := url.Parse(base); base == "" || err != nil || isPipedriveHost(u.Hostname()) {
		return oauth2.Endpoint{AuthURL: AuthURL, TokenURL: TokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	}
	return oauth2.Endpoint{AuthURL: base + authPath, TokenURL: base + tokenPath, AuthStyle: oauth2.AuthStyleInHeader}
}

func isPipedriveHost(host string) bool {
	return host == "pipedrive.com" || strings.HasSuffix(host, ".pipedrive.com")
}

// BaseURL returns the company API host a token answer names (api_domain),
// without a trailing slash, or "" when tok has none. The linking code
// stores it as the account's base URL.
func BaseURL(tok *oauth2.Token) string {
	if tok == nil {
		return ""
	}
	s, _ := tok.Extra("api_domain").(string)
	return strings.TrimRight(strings.TrimSpace(s), "/")
}

func init() {
	connectors.Register(connectors.Info{
		Name:           Name,
		DisplayName:    "Pipedrive",
		Kinds:          Kinds,
		DefaultBaseURL: "", // per company: the token's api_domain (BaseURL)
		Scopes:         Scopes,
		Endpoint:       Endpoint,
		RevokeURL:      RevokeURL,
		Limits:         []connectors.Limit{BurstLimit},
		New:            func(c connectors.Credentials) (connectors.Connector, error) { return New(c), nil },
	})
}

// Interface guards.
var (
	_ connectors.Connector     = (*Client)(nil)
	_ connectors.TaskCreator   = (*Client)(nil)
	_ connectors.EntityCreator = (*Client)(nil)
	_ connectors.OwnedCounter  = (*Client)(nil)
	_ connectors.WebhookParser = (*Client)(nil)
)

// Client talks to one Pipedrive company. It is safe for concurrent use.
type Client struct {
	baseURL   string
	http      *http.Client
	pace      *pacer
	secret    string // the OAuth app's client secret, for webhook credentials
	accountID int64

	// Now is the clock call times default to; nil means time.Now. Set it
	// before first use.
	Now func() time.Time
}

// New returns a Client for the company at c.BaseURL (its api_domain; a
// fake in tests). It does no I/O. Requests go through c.HTTPClient behind
// a pacer that honours Pipedrive's rate-limit headers.
func New(c connectors.Credentials) *Client {
	hc := http.DefaultClient
	if c.HTTPClient != nil {
		hc = c.HTTPClient
	}
	p := newPacer(hc.Transport)
	paced := *hc
	paced.Transport = p
	return &Client{
		baseURL:   strings.TrimRight(c.BaseURL, "/"),
		http:      &paced,
		pace:      p,
		secret:    c.ClientSecret,
		accountID: c.AccountID,
	}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
