// Package alltest starts any in-tree CRM's fake by registry name, so tests
// outside the connectors (sync, routing, push-back, webhooks) run one body
// against every CRM: a table of Names, one Start per row.
//
//	for _, name := range alltest.Names {
//		t.Run(name, func(t *testing.T) {
//			crm := alltest.Start(t, name, backend, nil)
//			… link an account at crm.BaseURL with crm.Token, resolve it with crm.OAuth …
//		})
//	}
package alltest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/bitrix24"
	"github.com/crmsync/crmsync/connectors/bitrix24/bitrix24test"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/hubspot"
	"github.com/crmsync/crmsync/connectors/hubspot/hubspottest"
	"github.com/crmsync/crmsync/connectors/pipedrive"
	"github.com/crmsync/crmsync/connectors/pipedrive/pipedrivetest"
)

// Names are the registry names of every in-tree CRM, the rows of a CRM
// matrix.
var Names = []string{amocrm.Name, bitrix24.Name, hubspot.Name, pipedrive.Name}

// CRM is one vendor fake serving a Backend over HTTP.
type CRM struct {
	Name    string // registry name
	Backend *connectortest.Backend
	Server  *httptest.Server
	// BaseURL is what an account linked to the fake stores.
	BaseURL string
	// OAuth is the app the fake knows, for connectors.Resolver.OAuth[Name].
	OAuth *oauth2.Config
	// WebhookSecret is the account's webhook secret (Bitrix24's
	// application token), else "".
	WebhookSecret string
	// WriteRequest is the request ("METHOD /path", as Backend.Requests
	// counts them) that writes a call when its target is known.
	WriteRequest string

	// The vendor's own fake, for what only it offers; one is set.
	Amo       *amocrmtest.Handler
	Bitrix24  *bitrix24test.Handler
	HubSpot   *hubspottest.Handler
	Pipedrive *pipedrivetest.Handler

	issue func(time.Time) *oauth2.Token
}

// Start serves b with the fake of the CRM name until the test ends; wrap,
// when set, wraps the fake's handler (fault injection by time). Spec
// violations (HubSpot, Pipedrive) fail the test.
func Start(tb testing.TB, name string, b *connectortest.Backend, wrap func(http.Handler) http.Handler) *CRM {
	tb.Helper()
	c := &CRM{Name: name, Backend: b}
	var h http.Handler
	switch name {
	case amocrm.Name:
		c.Amo = amocrmtest.NewHandler(b)
		h, c.issue, c.WriteRequest = c.Amo, c.Amo.IssueToken, "POST /api/v4/contacts/notes"
	case bitrix24.Name:
		c.Bitrix24 = bitrix24test.NewHandler(b)
		h, c.issue, c.WriteRequest = c.Bitrix24, c.Bitrix24.IssueToken, "POST /rest/batch"
		c.WebhookSecret = c.Bitrix24.ApplicationToken
	case hubspot.Name:
		hs, err := hubspottest.NewHandler(b)
		if err != nil {
			tb.Fatal(err)
		}
		hs.OnViolation = func(err error) { tb.Errorf("HubSpot spec violation: %v", err) }
		c.HubSpot = hs
		h, c.WriteRequest = hs, "POST /crm/v3/objects/calls/batch/create"
		c.issue = func(time.Time) *oauth2.Token { return &oauth2.Token{AccessToken: hs.AccessToken} }
	case pipedrive.Name:
		pd, err := pipedrivetest.NewHandler(b)
		if err != nil {
			tb.Fatal(err)
		}
		pd.OnViolation = func(err error) { tb.Errorf("Pipedrive spec violation: %v", err) }
		c.Pipedrive = pd
		h, c.issue, c.WriteRequest = pd, pd.IssueToken, "POST /v1/callLogs"
	default:
		tb.Fatalf("alltest: no fake for CRM %q", name)
	}
	if wrap != nil {
		h = wrap(h)
	}
	c.Server = httptest.NewServer(h)
	tb.Cleanup(c.Server.Close)
	switch name {
	case amocrm.Name:
		c.BaseURL, c.OAuth = c.Server.URL, amocrmtest.Config(c.Server.URL)
	case bitrix24.Name:
		c.BaseURL = c.Server.URL + "/rest/"
		c.OAuth = bitrix24test.Config(c.BaseURL)
	case hubspot.Name:
		c.BaseURL = c.Server.URL
		c.OAuth = &oauth2.Config{ClientID: c.HubSpot.ClientID, ClientSecret: c.HubSpot.ClientSecret}
	case pipedrive.Name:
		c.BaseURL, c.OAuth = c.Server.URL, c.Pipedrive.Config(c.Server.URL)
	}
	return c
}

// Transport reaches the fake (for connectors.Resolver.Base).
func (c *CRM) Transport() http.RoundTripper { return c.Server.Client().Transport }

// IssueToken returns a token the fake accepts until expiry, as a completed
// OAuth flow would (HubSpot's fake token never expires).
func (c *CRM) IssueToken(expiry time.Time) *oauth2.Token { return c.issue(expiry) }

// Connector builds the CRM's connector for account id directly, with a
// static token (no refresh, no retries, no rate limits), as the Resolver
// would with the account's credentials.
func (c *CRM) Connector(tb testing.TB, accountID int64) connectors.Connector {
	tb.Helper()
	info, err := connectors.Lookup(c.Name)
	if err != nil {
		tb.Fatal(err)
	}
	hc := &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(c.IssueToken(time.Now().Add(24 * time.Hour))),
		Base:   c.Transport(),
	}}
	conn, err := info.New(connectors.Credentials{AccountID: accountID, BaseURL: c.BaseURL, HTTPClient: hc,
		ClientSecret: c.OAuth.ClientSecret, WebhookSecret: c.WebhookSecret})
	if err != nil {
		tb.Fatal(err)
	}
	return conn
}
