// Package bitrix24 is the connector for Bitrix24 (REST v2, cloud and
// on-premise), one account per portal.
//
// # Accounts and OAuth
//
// An account's base URL is its portal's REST endpoint, https://{portal}/rest/:
// the client_endpoint of the token answer (BaseURL), or PortalURL of the
// domain the OAuth callback carries. Bitrix24's OAuth is not x/oauth2's:
// the authorisation page lives on the portal, the token endpoint is the
// central https://oauth.bitrix.info/oauth/token/ and takes a GET with the
// app's secret in the query (Refresh, Exchange), refresh tokens rotate, and
// an authorisation code lives 30 seconds. Bitrix24 ignores the
// Authorization header: the access token travels as the auth parameter.
// New puts a RoundTripper beneath the shared connectors.Transport (which
// still limits, retries and refreshes) that moves the Bearer token the
// Transport sets into the form body as auth=… (auth.go).
//
// Bitrix24 signs no event: each carries the installation's
// application_token, which the app first receives in ONAPPINSTALL. The
// account keeps it as its webhook secret (Credentials.WebhookSecret,
// sealed by the store, never in the base URL), and ParseWebhook checks
// every event against it. ClaimWebhookSecret reads it from an ONAPPINSTALL
// posted to the account's hook while none is stored, once the event's
// access token has proved itself on the portal (webhooks.go).
//
// # Kinds (crm/API-NOTES.md §6)
//
//   - lead: LEAD records holding the number; closed when the lead's status
//     semantics is success (converted) or failure (junk).
//   - deal: deals whose contact or company holds the number (crm.deal.list
//     by CONTACT_ID/COMPANY_ID: the primary contact only, 50 newest per
//     holder); closed when CLOSED is Y.
//   - contact: contacts and companies holding the number; company ids are
//     given as "company:<id>".
//
// The responsible user is the record's ASSIGNED_BY_ID. A lookup is two
// requests: telephony.externalCall.searchCrmEntities finds the holders of a
// number (crm.duplicate.findbycomm when the app may not call it), then one
// batch reads them, so every phone is re-checked with connectors.SamePhone,
// and reads lead statuses and the holders' deals. Concurrent lookups of one
// number (the kinds fanned out) share one search.
//
// # Calls
//
// A call is one batch: telephony.externalCall.register with a unique
// EXTERNAL_CALL_ID (Bitrix24 hands out an existing CALL_ID otherwise),
// .finish (the CRM call activity; USER_ID is who answered, else the
// responsible user, else the user who linked the account) and .attachRecord
// with the recording's URL. Category, value and comment become a note on
// the call's activity (crm.timeline.note.save, which replaces it on every
// save), so later events update the same call: the CallRef holds the
// CALL_ID and the activity, and an update re-attaches a changed recording
// and re-saves the note, never registering again. A call Bitrix24 bound to
// no CRM record (unknown number) has no activity and so keeps no text.
// Calls are registered without showing a card or posting to chat, and never
// create CRM records (CRM_CREATE=0).
//
// Besides Connector the client implements BatchCallLogger, TaskCreator
// (crm.activity.todo.add: to-dos belong to a CRM record), OwnedCounter and
// WebhookParser.
//
// # Rate limit
//
// Bitrix24 lets 50 requests through at once and then 2 a second per portal
// and source IP (Enterprise: 250, 5 a second), answering 503
// QUERY_LIMIT_EXCEEDED beyond that. Limits declares the sustained 2 a
// second only: the shared limiter has no burst, and the burst is shared
// with every other app on the portal, so we cannot know how much of it is
// left. Batching keeps the connector well inside it.
package bitrix24

import (
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/crmsync/crmsync/connectors"
)

// Name is the registry name.
const Name = "bitrix24"

// Kinds says what each entity kind means in Bitrix24.
var Kinds = map[connectors.EntityKind]string{
	connectors.KindLead:    "lead (LEAD) holding the number",
	connectors.KindDeal:    "deal of the contact or company holding the number",
	connectors.KindContact: "contact or company",
}

// Scopes are the Bitrix24 permissions the app needs. Bitrix24 takes them
// from the app's registration, not from the authorisation request.
var Scopes = []string{"crm", "telephony", "user"}

// RequestRate is Bitrix24's sustained per-portal rate (see the package
// comment for the burst we leave alone).
var RequestRate = connectors.Limit{Name: "portal", Rate: 2, Per: time.Second}

func init() {
	connectors.Register(connectors.Info{
		Name:           Name,
		DisplayName:    "Bitrix24",
		Kinds:          Kinds,
		DefaultBaseURL: "", // per portal: https://{portal}/rest/
		Scopes:         Scopes,
		Endpoint:       Endpoint,
		Refresh:        Refresh,
		Exchange:       Exchange,
		Limits:         []connectors.Limit{RequestRate},
		New:            func(c connectors.Credentials) (connectors.Connector, error) { return New(c), nil },
	})
}

// Interface guards.
var (
	_ connectors.Connector       = (*Client)(nil)
	_ connectors.BatchCallLogger = (*Client)(nil)
	_ connectors.TaskCreator     = (*Client)(nil)
	_ connectors.OwnedCounter    = (*Client)(nil)
	_ connectors.WebhookParser   = (*Client)(nil)
)

// Client talks to one Bitrix24 portal. It is safe for concurrent use.
type Client struct {
	baseURL  string // https://{portal}/rest/, with the trailing slash
	http     *http.Client
	raw      http.RoundTripper // beneath the token, limits and retries: for ClaimWebhookSecret
	appToken string            // the installation's application_token (never logged)

	searches singleflight.Group // one phone search at a time per number
}

// New returns a Client for the portal at c.BaseURL (https://{portal}/rest/;
// a fake in tests) whose events must carry c.WebhookSecret as their
// application_token. It does no I/O. c.HTTPClient's Bearer token is sent
// as Bitrix24's auth parameter instead.
func New(c connectors.Credentials) *Client {
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	api, raw := authParamClient(hc)
	return &Client{baseURL: restBase(c.BaseURL), http: api, raw: raw, appToken: c.WebhookSecret}
}

// PortalURL returns the REST base URL of the portal at domain (the OAuth
// callback's domain parameter, e.g. "acme.bitrix24.ru").
func PortalURL(domain string) string {
	return "https://" + strings.TrimRight(domain, "/") + "/rest/"
}

// restBase returns the REST endpoint with one trailing slash (and without
// a fragment or query, which Bitrix24 would not expect on a method URL).
func restBase(raw string) string {
	raw, _, _ = strings.Cut(raw, "#")
	raw, _, _ = strings.Cut(raw, "?")
	return strings.TrimRight(raw, "/") + "/"
}
