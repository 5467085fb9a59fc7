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
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
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
	// writes counts the requests that wrote a call; isWrite tells them.
	writes  atomic.Int64
	isWrite func(r *http.Request, body []byte) bool

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
		h, c.issue, c.isWrite = c.Amo, c.Amo.IssueToken, amoWrite
	case bitrix24.Name:
		c.Bitrix24 = bitrix24test.NewHandler(b)
		h, c.issue, c.isWrite = c.Bitrix24, c.Bitrix24.IssueToken, bitrix24Write
		c.WebhookSecret = c.Bitrix24.ApplicationToken
	case hubspot.Name:
		hs, err := hubspottest.NewHandler(b)
		if err != nil {
			tb.Fatal(err)
		}
		hs.OnViolation = func(err error) { tb.Errorf("HubSpot spec violation: %v", err) }
		c.HubSpot = hs
		h, c.isWrite = hs, hubspotWrite
		c.issue = func(time.Time) *oauth2.Token { return &oauth2.Token{AccessToken: hs.AccessToken} }
	case pipedrive.Name:
		pd, err := pipedrivetest.NewHandler(b)
		if err != nil {
			tb.Fatal(err)
		}
		pd.OnViolation = func(err error) { tb.Errorf("Pipedrive spec violation: %v", err) }
		c.Pipedrive = pd
		h, c.issue, c.isWrite = pd, pd.IssueToken, pipedriveWrite
	default:
		tb.Fatalf("alltest: no fake for CRM %q", name)
	}
	h = c.countWrites(h)
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

// Writes returns how many requests that write a call (create or update its
// record) reached the fake so far, whatever the fake answered: injected
// faults (connectortest.Fault) count, wrap's own answers do not. A write
// of several calls in one request (a batch) counts once.
func (c *CRM) Writes() int { return int(c.writes.Load()) }

// countWrites counts the requests isWrite tells, before next sees them.
func (c *CRM) countWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if c.isWrite(r, body) {
			c.writes.Add(1)
		}
		next.ServeHTTP(w, r)
	})
}

// amoCRM writes a call as a note on its record (POST, or PATCH to
// update), or through POST /api/v4/calls when it has none.
func amoWrite(r *http.Request, _ []byte) bool {
	p := r.URL.Path
	return (r.Method == "POST" || r.Method == "PATCH") &&
		(p == "/api/v4/calls" || strings.HasPrefix(p, "/api/v4/") && strings.HasSuffix(p, "/notes"))
}

// HubSpot writes calls as call objects, one or a batch.
func hubspotWrite(r *http.Request, _ []byte) bool {
	p := r.URL.Path
	return (r.Method == "POST" || r.Method == "PATCH") && strings.HasPrefix(p, "/crm/v3/objects/calls") &&
		!strings.HasSuffix(p, "/search")
}

// Pipedrive writes a call as a call log, and later events as a note
// about it.
func pipedriveWrite(r *http.Request, _ []byte) bool {
	p := r.URL.Path
	return r.Method == "POST" && p == "/v1/callLogs" ||
		(r.Method == "POST" || r.Method == "PUT") && strings.HasPrefix(p, "/v1/notes")
}

// bitrix24WriteMethods are the REST methods that write a call.
var bitrix24WriteMethods = []string{"telephony.externalcall.register", "telephony.externalcall.finish",
	"telephony.externalcall.attachrecord", "crm.timeline.note.save"}

// Bitrix24 writes a call with the methods above, alone or as commands of
// a batch (which also carries reads); method names are case-insensitive.
func bitrix24Write(r *http.Request, body []byte) bool {
	text := strings.ToLower(r.URL.Path + "?" + r.URL.RawQuery + " " + string(body))
	if u, err := url.QueryUnescape(text); err == nil {
		text = u
	}
	for _, m := range bitrix24WriteMethods {
		if strings.Contains(text, m) {
			return true
		}
	}
	return false
}

// Held returns what the fake's record of call (Backend.Calls) holds once
// the CRM's connector wrote it: each vendor's call keeps only part of a
// CallActivity, and most render the category, value and comment into one
// note that their fakes read back as the Comment.
func (c *CRM) Held(call connectors.CallActivity) connectors.CallActivity {
	// oneUser: the call has one user, who answered it, else the
	// responsible manager.
	oneUser := func() {
		u := call.AnsweredBy
		if u == "" {
			u = call.Responsible
		}
		call.Responsible, call.AnsweredBy = u, ""
		if call.Answered {
			call.AnsweredBy = u
		}
	}
	labelled := func() {
		var lines []string
		if call.Category != "" {
			lines = append(lines, "Category: "+call.Category)
		}
		if call.Value != "" {
			lines = append(lines, "Value: "+call.Value)
		}
		if call.Comment != "" {
			lines = append(lines, call.Comment)
		}
		call.Comment, call.Category, call.Value = strings.Join(lines, "\n"), "", ""
	}
	switch c.Name {
	case amocrm.Name:
		// A call note: one phone number (the client's), both users, and
		// "category · value · comment" as its call_result.
		call.To = ""
		var parts []string
		for _, s := range []string{call.Category, call.Value, call.Comment} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		call.Comment, call.Category, call.Value = strings.Join(parts, " · "), "", ""
	case bitrix24.Name:
		// An external call registered by one phone number (the client's)
		// and finished by one user; the note is a timeline note, a
		// labelled line each.
		call.To = ""
		oneUser()
		labelled()
	case hubspot.Name:
		// A call engagement with one owner; hs_call_body holds a labelled
		// paragraph each, which the fake reads back one a line.
		oneUser()
		labelled()
	case pipedrive.Name:
		// A call log: one user, no id of ours; the fake reads the
		// category, value and comment back from its note.
		oneUser()
		call.ExternalCallID = ""
	}
	return call
}
