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
// The base URL's fragment may carry the installation's member_id and
// application_token (AccountBaseURL); ParseWebhook checks events against
// them. The fragment is never sent anywhere.
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
	"net/url"
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
	memberID string // from the base URL's fragment, for webhooks
	appToken string

	searches singleflight.Group // one phone search at a time per number
}

// New returns a Client for the portal at c.BaseURL (https://{portal}/rest/;
// a fake in tests). It does no I/O. c.HTTPClient's Bearer token is sent
// as Bitrix24's auth parameter instead.
func New(c connectors.Credentials) *Client {
	base, memberID, appToken := splitBaseURL(c.BaseURL)
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{baseURL: base, http: authParamClient(hc), memberID: memberID, appToken: appToken}
}

// PortalURL returns the REST base URL of the portal at domain (the OAuth
// callback's domain parameter, e.g. "acme.bitrix24.ru").
func PortalURL(domain string) string {
	return "https://" + strings.TrimRight(domain, "/") + "/rest/"
}

// AccountBaseURL returns the base URL to store for an account: its REST
// endpoint plus, in the fragment, the installation's member_id and
// application_token (from ONAPPINSTALL), which ParseWebhook checks events
// against. Either may be empty.
func AccountBaseURL(restURL, memberID, applicationToken string) string {
	base, _, _ := splitBaseURL(restURL)
	frag := url.Values{}
	if memberID != "" {
		frag.Set("member_id", memberID)
	}
	if applicationToken != "" {
		frag.Set("application_token", applicationToken)
	}
	if len(frag) == 0 {
		return base
	}
	return base + "#" + frag.Encode()
}

// splitBaseURL cuts a stored base URL into the REST endpoint (with a
// trailing slash) and the fragment's member_id and application_token.
func splitBaseURL(raw string) (base, memberID, appToken string) {
	base, frag, _ := strings.Cut(raw, "#")
	base = strings.TrimRight(base, "/") + "/"
	if v, err := url.ParseQuery(frag); err == nil {
		memberID, appToken = v.Get("member_id"), v.Get("application_token")
	}
	return base, memberID, appToken
}
