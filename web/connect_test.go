package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/bitrix24/bitrix24test"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/hubspot/hubspottest"
	"github.com/crmsync/crmsync/connectors/pipedrive/pipedrivetest"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/web"
)

// oidcConnector is a connector registered for these tests whose OAuth
// endpoints are a mockoidc server's (a real authorisation server library):
// its API base is the server's address.
const oidcConnector = "oidctest"

var registerOIDC sync.Once

func mustOIDC(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	registerOIDC.Do(func() {
		connectors.Register(connectors.Info{
			Name: oidcConnector, DisplayName: "OIDC test CRM", Scopes: []string{"openid", "email"}, PKCE: true,
			Endpoint: func(base string) oauth2.Endpoint {
				return oauth2.Endpoint{AuthURL: base + mockoidc.AuthorizationEndpoint, TokenURL: base + mockoidc.TokenEndpoint,
					AuthStyle: oauth2.AuthStyleInParams}
			},
			New: func(connectors.Credentials) (connectors.Connector, error) { return nil, errors.New("not used") },
		})
	})
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return m
}

// startLink presses Connect and returns where the browser is sent.
func (b *browser) startLink(connector string) *url.URL {
	b.t.Helper()
	b.get("/admin/integrations")
	p := b.post("/admin/connect/"+connector, nil)
	if p.Status != http.StatusSeeOther {
		b.t.Fatalf("connect %s: %d %s", connector, p.Status, text(p.Body))
	}
	u, err := url.Parse(p.Location)
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// authorize follows the authorisation server's auto-approving page to the
// callback URL it redirects to.
func (b *browser) authorize(authURL *url.URL) *url.URL {
	b.t.Helper()
	p := b.get(authURL.String())
	if p.Status != http.StatusFound && p.Status != http.StatusSeeOther {
		b.t.Fatalf("authorize: %d %s", p.Status, p.Body)
	}
	u, err := url.Parse(p.Location)
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// withQuery returns u with key set to value.
func withQuery(u *url.URL, key, value string) *url.URL {
	c := *u
	q := c.Query()
	q.Set(key, value)
	c.RawQuery = q.Encode()
	return &c
}

// linked returns tenant A's accounts of connector linked by these tests.
func (e *adminEnv) linked(connector string) []store.Account {
	as, err := e.db.Accounts(context.Background(), e.a.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.Account
	for _, a := range as {
		if a.Connector == connector && a.ID != e.accountA {
			out = append(out, a)
		}
	}
	return out
}

// refused checks that p is the clear page of a refused link.
func refused(t *testing.T, p page, want string) {
	t.Helper()
	body := text(p.Body)
	if p.Status != http.StatusBadRequest || !strings.Contains(body, "Nothing was linked") || !strings.Contains(body, want) {
		t.Errorf("want a 400 page saying %q, got %d: %s", want, p.Status, body)
	}
}

// TestConnect_OAuth runs the whole link flow against a real authorisation
// server (mockoidc, with PKCE) and against the vendor fakes: the OK path,
// a tampered state, a replayed code, and a callback without a link attempt.
func TestConnect_OAuth(t *testing.T) {
	type provider struct {
		name      string
		connector string
		setup     func(t *testing.T, s *web.Server)
		// authorize gets the callback URL for a link attempt's auth URL.
		authorize func(t *testing.T, b *browser, auth *url.URL) *url.URL
		external  string // the linked account's external id; "" any
	}
	var oidc *mockoidc.MockOIDC
	var amo *amocrmtest.Server
	providers := []provider{
		{
			name: "mockoidc", connector: oidcConnector,
			setup: func(t *testing.T, s *web.Server) {
				oidc = mustOIDC(t)
				s.Admin.OAuth = map[string]*oauth2.Config{oidcConnector: {ClientID: oidc.ClientID, ClientSecret: oidc.ClientSecret}}
				s.Admin.APIBaseURL = map[string]string{oidcConnector: oidc.Addr()}
			},
			authorize: func(t *testing.T, b *browser, auth *url.URL) *url.URL {
				if auth.Query().Get("code_challenge") == "" || auth.Query().Get("code_challenge_method") != "S256" {
					t.Errorf("no PKCE challenge in %s", auth)
				}
				return b.authorize(auth)
			},
		},
		{
			name: "hubspottest", connector: "hubspot", external: "4242",
			setup: func(t *testing.T, s *web.Server) {
				h, err := hubspottest.NewHandler(connectortest.NewBackend())
				if err != nil {
					t.Fatal(err)
				}
				h.OnViolation = func(err error) { t.Error(err) }
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				s.Admin.OAuth = map[string]*oauth2.Config{"hubspot": {ClientID: h.ClientID, ClientSecret: h.ClientSecret}}
				s.Admin.APIBaseURL = map[string]string{"hubspot": srv.URL}
			},
			authorize: func(t *testing.T, b *browser, auth *url.URL) *url.URL { return b.authorize(auth) },
		},
		{
			// Pipedrive: Basic client authentication on the token call, and
			// the token answer's api_domain becomes the account's base URL.
			name: "pipedrivetest", connector: "pipedrive",
			setup: func(t *testing.T, s *web.Server) {
				h, err := pipedrivetest.NewHandler(connectortest.NewBackend())
				if err != nil {
					t.Fatal(err)
				}
				h.OnViolation = func(err error) { t.Error(err) }
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				s.Admin.OAuth = map[string]*oauth2.Config{"pipedrive": {ClientID: h.ClientID, ClientSecret: h.ClientSecret}}
				s.Admin.APIBaseURL = map[string]string{"pipedrive": srv.URL}
			},
			authorize: func(t *testing.T, b *browser, auth *url.URL) *url.URL { return b.authorize(auth) },
		},
		{
			// Bitrix24: the token endpoint is a GET with the secret in the
			// query (Info.Exchange), and the callback names the portal.
			name: "bitrix24test", connector: "bitrix24", external: bitrix24test.MemberID,
			setup: func(t *testing.T, s *web.Server) {
				srv := bitrix24test.NewServer(connectortest.NewBackend())
				t.Cleanup(srv.Close)
				s.Admin.OAuth = map[string]*oauth2.Config{"bitrix24": {ClientID: bitrix24test.ClientID,
					ClientSecret: bitrix24test.ClientSecret}}
				s.Admin.APIBaseURL = map[string]string{"bitrix24": srv.URL}
			},
			authorize: func(t *testing.T, b *browser, auth *url.URL) *url.URL { return b.authorize(auth) },
		},
		{
			// amo's consent page is amo's own; the fake issues codes directly
			// and the callback names the account's host in referer.
			name: "amocrmtest", connector: "amocrm",
			setup: func(t *testing.T, s *web.Server) {
				amo = amocrmtest.NewServer(connectortest.NewBackend())
				t.Cleanup(amo.Close)
				s.Admin.OAuth = map[string]*oauth2.Config{"amocrm": {ClientID: amocrmtest.ClientID,
					ClientSecret: amocrmtest.ClientSecret, RedirectURL: amocrmtest.RedirectURI}}
				s.Admin.APIBaseURL = map[string]string{"amocrm": amo.URL}
				s.Admin.AuthURL = map[string]string{"amocrm": amo.URL + "/oauth"}
			},
			authorize: func(t *testing.T, b *browser, auth *url.URL) *url.URL {
				if auth.Query().Get("redirect_uri") != amocrmtest.RedirectURI {
					t.Errorf("redirect_uri %q", auth.Query().Get("redirect_uri"))
				}
				cb, _ := url.Parse(b.base + "/connect/amocrm/callback")
				q := url.Values{"code": {amo.IssueCode()}, "state": {auth.Query().Get("state")},
					"referer": {strings.TrimPrefix(amo.URL, "http://")}}
				cb.RawQuery = q.Encode()
				return cb
			},
		},
	}
	for _, pv := range providers {
		t.Run(pv.name, func(t *testing.T) {
			db := storetest.MustOpen(t)
			e := newAdminEnv(t, db, func(s *web.Server) { pv.setup(t, s) })
			b := e.browser()
			b.login(e.admin.Login)

			t.Run("OK", func(t *testing.T) {
				auth := b.startLink(pv.connector)
				cb := pv.authorize(t, b, auth)
				p := b.get(cb.String())
				if p.Status != http.StatusSeeOther || p.Location != "/admin/integrations" {
					t.Fatalf("callback: %d → %q: %s", p.Status, p.Location, text(p.Body))
				}
				if body := text(b.get("/admin/integrations").Body); !strings.Contains(body, "is connected") || !strings.Contains(body, "first sync is queued") {
					t.Errorf("integrations after linking: %s", body)
				}
				as := e.linked(pv.connector)
				if len(as) != 1 || as[0].Status != connectors.StatusConnected || (pv.external != "" && as[0].ExternalID != pv.external) {
					t.Fatalf("linked accounts: %+v", as)
				}
				tok, err := db.LoadToken(context.Background(), as[0].ID)
				if err != nil || tok.AccessToken == "" {
					t.Errorf("stored token: %v %v", tok, err)
				}
				if q := e.syncer.queued(); len(q) != 1 || q[0] != as[0].ID {
					t.Errorf("queued syncs %v, want the new account %d", q, as[0].ID)
				}
				// Replaying the callback finds no link attempt.
				refused(t, b.get(cb.String()), "no link attempt is in progress")

				// Replaying the code in a new attempt: the server refuses it.
				auth2 := b.startLink(pv.connector)
				replay := withQuery(cb, "state", auth2.Query().Get("state"))
				refused(t, b.get(replay.String()), "refused the authorisation code")
			})
			t.Run("ErrStateTampered", func(t *testing.T) {
				auth := b.startLink(pv.connector)
				tampered := withQuery(auth, "state", auth.Query().Get("state")+"x")
				cb := pv.authorize(t, b, tampered)
				if got := cb.Query().Get("state"); got != tampered.Query().Get("state") {
					t.Fatalf("the server changed the state: %q", got)
				}
				refused(t, b.get(cb.String()), "state parameter does not match")
			})
			t.Run("ErrOtherBrowser", func(t *testing.T) {
				auth := b.startLink(pv.connector)
				cb := pv.authorize(t, b, auth)
				other := e.browser()
				other.login(e.admin.Login)
				refused(t, other.get(cb.String()), "no link attempt is in progress")
			})
			t.Run("ErrVendorRefused", func(t *testing.T) {
				auth := b.startLink(pv.connector)
				cb, _ := url.Parse(b.base + "/connect/" + pv.connector + "/callback?error=access_denied&error_description=The+user+said+no&state=" +
					url.QueryEscape(auth.Query().Get("state")))
				refused(t, b.get(cb.String()), "The user said no")
			})
			if n := len(e.linked(pv.connector)); n != 1 {
				t.Errorf("%d accounts linked, want the one from OK", n)
			}
		})
	}
}
