// Package hubspot is the HubSpot CRM connector (CRM v3 objects API).
//
// Entity kinds map onto HubSpot objects as follows (API-NOTES §6): a
// contact is a Contacts object found by phone search; a deal is a Deals
// object (object type 0-3) associated with such a contact; a lead is a
// Leads object associated with such a contact. The responsible user is the
// record's hubspot_owner_id, an owner id (not a user id), which is also
// what ListUsers returns as User.ID.
//
// Calls are written as Calls engagements (POST /crm/v3/objects/calls). The
// call's category, value and comment go into hs_call_body as text lines
// ("Category: …", "Value: …", comment); portals that want them as
// reportable fields can add custom call properties later without changing
// callers. Besides Connector it implements BatchCallLogger (batch/create
// and batch/update, 100 a request), OwnedCounter and WebhookParser.
// TaskCreator is not implemented: HubSpot's tasks API is not among the
// vendor documents the fake validates against, so callers fall back to the
// call's comment. EntityCreator is not implemented either (not in scope).
//
// Every request goes through Credentials.HTTPClient, which authenticates,
// rate-limits and retries; the connector maps what still fails onto the
// connectors error kinds (checkStatus).
package hubspot

import (
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
)

// Name is the connector's registry name.
const Name = "hubspot"

// DefaultBaseURL is HubSpot's API host.
const DefaultBaseURL = "https://api.hubapi.com"

// OAuth endpoints. The token path is the one HubSpot's 2026-03 OAuth
// document describes (/oauth/v3/token); HubSpot serves the same endpoint as
// /oauth/2026-03/token (API-NOTES §3.1). The v1 endpoint is switched off on
// 2027-02-16.
const (
	AuthURL   = "https://app.hubspot.com/oauth/authorize"
	tokenPath = "/oauth/v3/token"
	authPath  = "/oauth/authorize"
)

// AccessTokenTTL is how long a HubSpot access token lives.
const AccessTokenTTL = 30 * time.Minute

// scopes are the OAuth scopes an account is linked with: owners (users),
// contacts (search, and calls, which HubSpot's calls document guards with
// the contacts scopes), deals and leads (search, call associations).
var scopes = []string{
	"crm.objects.owners.read",
	"crm.objects.contacts.read",
	"crm.objects.contacts.write",
	"crm.objects.deals.read",
	"crm.objects.deals.write",
	"crm.objects.leads.read",
	"crm.objects.leads.write",
}

// limits are HubSpot's documented per-account rates for OAuth apps
// (API-NOTES §3.6): 110 requests per 10 s, and 5 search requests per
// second. Search requests count against both, which is stricter than
// HubSpot (it exempts search from the 10-second budget) but never wrong.
var limits = []connectors.Limit{
	{Name: "ten_secondly", Rate: 110, Per: 10 * time.Second},
	{Name: "search", Rate: 5, Per: time.Second, Match: isSearch},
}

func isSearch(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/search")
}

// RevokeURL is HubSpot's RFC 7009 revocation endpoint (oauth.json's
// /oauth/v3/token/revoke, client credentials in the form) for an account
// whose API lives at baseURL.
func RevokeURL(baseURL string) string {
	base := strings.TrimRight(baseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	return base + "/oauth/v3/token/revoke"
}

// Endpoint returns the OAuth endpoints for an account whose API lives at
// baseURL. HubSpot's endpoints are global; a baseURL other than
// DefaultBaseURL (a test server) gets both endpoints on that host, so
// tests can run the whole OAuth flow against a fake.
func Endpoint(baseURL string) oauth2.Endpoint {
	base := strings.TrimRight(baseURL, "/")
	if base == "" || base == DefaultBaseURL {
		return oauth2.Endpoint{
			AuthURL:   AuthURL,
			TokenURL:  DefaultBaseURL + tokenPath,
			AuthStyle: oauth2.AuthStyleInParams,
		}
	}
	return oauth2.Endpoint{
		AuthURL:   base + authPath,
		TokenURL:  base + tokenPath,
		AuthStyle: oauth2.AuthStyleInParams,
	}
}

func init() {
	connectors.Register(connectors.Info{
		Name:        Name,
		DisplayName: "HubSpot",
		Kinds: map[connectors.EntityKind]string{
			connectors.KindLead:    "Leads object (via contact association)",
			connectors.KindDeal:    "Deals",
			connectors.KindContact: "Contacts",
		},
		DefaultBaseURL:  DefaultBaseURL,
		Scopes:          scopes,
		Endpoint:        Endpoint,
		RevokeURL:       RevokeURL,
		WebhookAccounts: WebhookAccounts,
		PKCE:            true, // the token endpoint takes code_verifier (oauth.json)
		Limits:          limits,
		New:             func(c connectors.Credentials) (connectors.Connector, error) { return New(c), nil },
	})
}

// Interface guards.
var (
	_ connectors.Connector       = (*Client)(nil)
	_ connectors.BatchCallLogger = (*Client)(nil)
	_ connectors.OwnedCounter    = (*Client)(nil)
	_ connectors.WebhookParser   = (*Client)(nil)
)

// Client talks to one HubSpot account. It is safe for concurrent use.
type Client struct {
	baseURL string
	http    *http.Client
	secret  string // the OAuth app's client secret, for webhook signatures
	portal  string // the account's portal (hub) id; "" accepts any portal's events

	// Now returns the current time, against which webhook timestamps are
	// checked; nil means time.Now. Set it before first use.
	Now func() time.Time
}

// New returns a Client for the account c describes. It does no I/O. Tests
// point c.BaseURL at a fake (see package hubspottest).
func New(c connectors.Credentials) *Client {
	cl := &Client{
		baseURL: strings.TrimRight(c.BaseURL, "/"),
		http:    c.HTTPClient,
		secret:  c.ClientSecret,
		portal:  c.ExternalID,
	}
	if cl.baseURL == "" {
		cl.baseURL = DefaultBaseURL
	}
	if cl.http == nil {
		cl.http = http.DefaultClient
	}
	return cl
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
