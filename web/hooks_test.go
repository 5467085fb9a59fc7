package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/all/alltest"
	"github.com/crmsync/crmsync/connectors/amocrm"
	"github.com/crmsync/crmsync/connectors/bitrix24"
	"github.com/crmsync/crmsync/connectors/bitrix24/bitrix24test"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/hubspot"
	"github.com/crmsync/crmsync/connectors/hubspot/hubspottest"
	"github.com/crmsync/crmsync/connectors/pipedrive"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/web"
)

// fakeInvalidator records what it is told.
type fakeInvalidator struct {
	mu      sync.Mutex
	tenants []int64
	changes []invalidated
	err     error
}

type invalidated struct {
	Tenant, Account int64
	Region          string
	Changes         []connectors.Change
}

func (f *fakeInvalidator) InvalidateTenant(ctx context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tenants = append(f.tenants, id)
	return f.err
}

func (f *fakeInvalidator) InvalidateChanges(ctx context.Context, tenantID, accountID int64, region string, cs []connectors.Change) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, invalidated{tenantID, accountID, region, cs})
	return len(cs), f.err
}

func (f *fakeInvalidator) take() ([]int64, []invalidated) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, c := f.tenants, f.changes
	f.tenants, f.changes = nil, nil
	return t, c
}

// fakeHookConnectors builds connectors without I/O: enough to verify and
// decode webhooks.
type fakeHookConnectors struct {
	mu sync.Mutex
	m  map[int64]connectors.Connector
}

func (f *fakeHookConnectors) ConnectorFor(ctx context.Context, id int64) (connectors.Connector, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.m[id]; ok {
		return c, nil
	}
	return nil, connectors.ErrNotFound
}

// linkHubSpot links a HubSpot account to the tenant of c; its webhooks
// are signed with hubspottest's client secret.
func (e *routingEnv) linkHubSpot(c apiClient) store.Account {
	e.t.Helper()
	acct, err := e.db.LinkAccount(context.Background(), c.tenant.ID, store.LinkAccount{Connector: hubspot.Name,
		ExternalID: "4242-" + strconv.FormatInt(c.tenant.ID, 10), Token: &oauth2.Token{AccessToken: "at"}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.hooks.mu.Lock()
	e.hooks.m[acct.ID] = hubspot.New(connectors.Credentials{AccountID: acct.ID, ClientSecret: hubspottest.DefaultClientSecret})
	e.hooks.mu.Unlock()
	return acct
}

// hubspotHook is a signed HubSpot webhook to the account's hook URL.
func hubspotHook(t *testing.T, path string, events []hubspottest.WebhookEvent) *http.Request {
	t.Helper()
	req, _, err := hubspottest.NewWebhookRequest("http://crmsync.example"+path, hubspottest.DefaultClientSecret, events, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (e *routingEnv) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func TestServer_Hooks(t *testing.T) {
	e := newRoutingEnv(t, storetest.MustOpen(t))
	acct := e.linkHubSpot(e.a)
	path := "/hooks/hubspot/" + strconv.FormatInt(acct.ID, 10)
	events := []hubspottest.WebhookEvent{
		{SubscriptionType: "deal.propertyChange", ObjectID: 9003, PropertyName: "hubspot_owner_id", PropertyValue: "102"},
		{SubscriptionType: "contact.propertyChange", ObjectID: 9001, PropertyName: "phone", PropertyValue: "067 123 45 67"},
	}

	t.Run("OK", func(t *testing.T) {
		rec := e.serve(hubspotHook(t, path, events))
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		_, got := e.inv.take()
		want := []invalidated{{Tenant: e.a.tenant.ID, Account: acct.ID, Region: "UA", Changes: []connectors.Change{
			{Kind: connectors.KindDeal, EntityID: "9003", ResponsibleUserID: "102"},
			{Kind: connectors.KindContact, EntityID: "9001", Phones: []string{"067 123 45 67"}},
		}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("invalidations (-want +got):\n%s", diff)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		req := hubspotHook(t, path, events)
		req.Header.Set("X-HubSpot-Signature-v3", "AAAA"+req.Header.Get("X-HubSpot-Signature-v3")[4:])
		if rec := e.serve(req); rec.Code != http.StatusUnauthorized {
			t.Errorf("bad signature: %d %s", rec.Code, rec.Body)
		}
		req = hubspotHook(t, path, events)
		req.Header.Del("X-HubSpot-Signature-v3")
		if rec := e.serve(req); rec.Code != http.StatusUnauthorized {
			t.Errorf("no signature: %d %s", rec.Code, rec.Body)
		}
		if _, got := e.inv.take(); len(got) != 0 {
			t.Errorf("invalidated after a failed verification: %+v", got)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		other := e.linkHubSpot(e.b)
		for _, p := range []string{
			"/hooks/hubspot/999999",
			"/hooks/hubspot/abc",
			"/hooks/amocrm/" + strconv.FormatInt(acct.ID, 10), // the account is not amoCRM's
		} {
			if rec := e.serve(hubspotHook(t, p, events)); rec.Code != http.StatusNotFound {
				t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
			}
		}
		// A hook of tenant B's account invalidates tenant B only.
		rec := e.serve(hubspotHook(t, "/hooks/hubspot/"+strconv.FormatInt(other.ID, 10), events))
		if _, got := e.inv.take(); rec.Code != http.StatusOK || len(got) != 1 || got[0].Tenant != e.b.tenant.ID {
			t.Errorf("B's hook: %d %+v", rec.Code, got)
		}
	})
	t.Run("AmoCRM", func(t *testing.T) {
		amo, err := e.db.LinkAccount(context.Background(), e.a.tenant.ID, store.LinkAccount{Connector: amocrm.Name,
			ExternalID: "amo-1", BaseURL: "https://acme.amocrm.ru", Token: &oauth2.Token{AccessToken: "at"}})
		if err != nil {
			t.Fatal(err)
		}
		e.hooks.mu.Lock()
		e.hooks.m[amo.ID] = amocrm.New(connectors.Credentials{AccountID: amo.ID, BaseURL: "https://acme.amocrm.ru"})
		e.hooks.mu.Unlock()
		hook := func(subdomain string) int {
			form := url.Values{
				"leads[responsible][0][id]":                  {"555"},
				"leads[responsible][0][responsible_user_id]": {"7"},
				"account[subdomain]":                         {subdomain},
			}
			req := httptest.NewRequest("POST", "/hooks/amocrm/"+strconv.FormatInt(amo.ID, 10), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return e.serve(req).Code
		}
		if code := hook("acme"); code != http.StatusOK {
			t.Errorf("amo hook: %d", code)
		}
		if _, got := e.inv.take(); len(got) != 1 || len(got[0].Changes) != 1 || got[0].Changes[0].EntityID != "555" {
			t.Errorf("amo changes: %+v", got)
		}
		if code := hook("evil"); code != http.StatusUnauthorized {
			t.Errorf("amo hook for another subdomain: %d, want 401", code)
		}
	})
}

// TestServer_Hooks_HubSpotApp: HubSpot posts every portal's events to the
// app's one URL, /hooks/hubspot/app. Each linked account of a named portal
// (two tenants may link the same one) gets its own portal's events; a
// portal nobody linked is a 200 with nothing to do.
func TestServer_Hooks_HubSpotApp(t *testing.T) {
	e := newRoutingEnv(t, storetest.MustOpen(t))
	link := func(c apiClient, portal string) store.Account {
		t.Helper()
		acct, err := e.db.LinkAccount(context.Background(), c.tenant.ID, store.LinkAccount{Connector: hubspot.Name,
			ExternalID: portal, Token: &oauth2.Token{AccessToken: "at"}})
		if err != nil {
			t.Fatal(err)
		}
		e.hooks.mu.Lock()
		e.hooks.m[acct.ID] = hubspot.New(connectors.Credentials{AccountID: acct.ID, ExternalID: portal,
			ClientSecret: hubspottest.DefaultClientSecret})
		e.hooks.mu.Unlock()
		return acct
	}
	a5001, b5001, a5002 := link(e.a, "5001"), link(e.b, "5001"), link(e.a, "5002")
	owner := hubspottest.WebhookEvent{PortalID: 5001, SubscriptionType: "deal.propertyChange", ObjectID: 9003,
		PropertyName: "hubspot_owner_id", PropertyValue: "102"}
	phone := hubspottest.WebhookEvent{PortalID: 5002, SubscriptionType: "contact.propertyChange", ObjectID: 9001,
		PropertyName: "phone", PropertyValue: "067 123 45 67"}
	stranger := hubspottest.WebhookEvent{PortalID: 7777, SubscriptionType: "contact.deletion", ObjectID: 1}

	t.Run("OK", func(t *testing.T) {
		rec := e.serve(hubspotHook(t, "/hooks/hubspot/app", []hubspottest.WebhookEvent{owner, phone, stranger}))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"accounts":3`) {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		_, got := e.inv.take()
		ownerChange := []connectors.Change{{Kind: connectors.KindDeal, EntityID: "9003", ResponsibleUserID: "102"}}
		want := []invalidated{
			{Tenant: e.a.tenant.ID, Account: a5001.ID, Region: "UA", Changes: ownerChange},
			{Tenant: e.b.tenant.ID, Account: b5001.ID, Region: "UA", Changes: ownerChange},
			{Tenant: e.a.tenant.ID, Account: a5002.ID, Region: "UA", Changes: []connectors.Change{
				{Kind: connectors.KindContact, EntityID: "9001", Phones: []string{"067 123 45 67"}}}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("invalidations (-want +got):\n%s", diff)
		}
	})
	t.Run("UnknownPortal", func(t *testing.T) {
		rec := e.serve(hubspotHook(t, "/hooks/hubspot/app", []hubspottest.WebhookEvent{stranger}))
		if _, got := e.inv.take(); rec.Code != http.StatusOK || len(got) != 0 || !strings.Contains(rec.Body.String(), `"accounts":0`) {
			t.Errorf("%d %s, invalidated %+v", rec.Code, rec.Body, got)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		req := hubspotHook(t, "/hooks/hubspot/app", []hubspottest.WebhookEvent{owner})
		req.Header.Set("X-HubSpot-Signature-v3", "AAAA"+req.Header.Get("X-HubSpot-Signature-v3")[4:])
		if rec := e.serve(req); rec.Code != http.StatusUnauthorized {
			t.Errorf("bad signature: %d %s", rec.Code, rec.Body)
		}
		if _, got := e.inv.take(); len(got) != 0 {
			t.Errorf("invalidated after a failed verification: %+v", got)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/hooks/hubspot/app", strings.NewReader(`{"not":"an array"}`))
		if rec := e.serve(req); rec.Code != http.StatusBadRequest {
			t.Errorf("malformed body: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		// amoCRM's webhooks are per account: it has no app URL.
		if rec := e.serve(hubspotHook(t, "/hooks/amocrm/app", []hubspottest.WebhookEvent{owner})); rec.Code != http.StatusNotFound {
			t.Errorf("amocrm app hook: %d %s", rec.Code, rec.Body)
		}
	})
}

func TestServer_Invalidating(t *testing.T) {
	e := newRoutingEnv(t, storetest.MustOpen(t))
	emp := e.a.mustCreate("/api/v1/employees", map[string]any{"email": "ivan@acme.example", "full_name": "Ivan"})
	if got, _ := e.inv.take(); len(got) != 1 || got[0] != e.a.tenant.ID {
		t.Errorf("creating an employee invalidated %v", got)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		want         []int64
	}{
		{"GET", "/api/v1/employees", nil, nil},
		{"PATCH", "/api/v1/employees/" + id(emp), map[string]any{"enabled": false}, []int64{e.a.tenant.ID}},
		{"PATCH", "/api/v1/employees/" + id(emp), map[string]any{"email": "bad"}, nil}, // 400: nothing changed
		{"PUT", "/api/v1/tenant/routing", map[string]any{"order": []string{"deal"}, "deadline_ms": 800,
			"fallback": "unavailable", "unknown_caller": "none"}, []int64{e.a.tenant.ID}},
		{"POST", "/api/v1/departments", map[string]any{"name": "Sales"}, []int64{e.a.tenant.ID}},
		{"DELETE", "/api/v1/employees/" + id(emp), nil, []int64{e.a.tenant.ID}},
		{"DELETE", "/api/v1/employees/" + id(emp), nil, nil}, // 404
	} {
		r := e.a.do(tc.method, tc.path, tc.body)
		got, _ := e.inv.take()
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s %s (%d): invalidated tenants (-want +got):\n%s", tc.method, tc.path, r.Status, diff)
		}
	}
	// The same change by tenant B invalidates B.
	e.b.mustCreate("/api/v1/numbers", map[string]any{"number": "+380443333333"})
	if got, _ := e.inv.take(); len(got) != 1 || got[0] != e.b.tenant.ID {
		t.Errorf("B's change invalidated %v", got)
	}
}

// Bitrix24 and Pipedrive hooks through the production connector resolver
// and the real store: Bitrix24's events are refused until a verified
// ONAPPINSTALL stores the application token (sealed), then accepted with
// it and refused with another; Pipedrive's carry the account's Basic
// credentials.
func TestServer_Hooks_Bitrix24AndPipedrive(t *testing.T) {
	db := storetest.MustOpen(t)
	e := newRoutingEnv(t, db)
	b24 := alltest.Start(t, bitrix24.Name, connectortest.NewBackend(), nil)
	pd := alltest.Start(t, pipedrive.Name, connectortest.NewBackend(), nil)
	resolver := &connectors.Resolver{Accounts: db, Base: b24.Transport(),
		OAuth: map[string]*oauth2.Config{bitrix24.Name: b24.OAuth, pipedrive.Name: pd.OAuth}}
	e.h = (&web.Server{Tenants: db, Directory: db, Routing: web.Routing{
		Router: e.router, Decisions: db, Recorder: e.rec, Invalidator: e.inv, HookAccounts: db, HookConnectors: resolver,
	}}).Handler()
	link := func(crm *alltest.CRM) string {
		acct, err := db.LinkAccount(context.Background(), e.a.tenant.ID, store.LinkAccount{Connector: crm.Name,
			ExternalID: crm.Name + "-1", BaseURL: crm.BaseURL, Token: crm.IssueToken(time.Now().Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		return "/hooks/" + crm.Name + "/" + strconv.FormatInt(acct.ID, 10)
	}
	post := func(path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return e.serve(req)
	}

	t.Run("Bitrix24", func(t *testing.T) {
		path := link(b24)
		event := b24.Bitrix24.Event("ONCRMDEALUPDATE", "20001")
		if rec := post(path, event); rec.Code != http.StatusUnauthorized {
			t.Fatalf("event before ONAPPINSTALL: %d %s", rec.Code, rec.Body)
		}
		forged := b24.Bitrix24.InstallEvent()
		forged.Set("auth[access_token]", "guessed")
		forged.Set("auth[application_token]", "attacker")
		if rec := post(path, forged); rec.Code != http.StatusUnauthorized {
			t.Fatalf("forged ONAPPINSTALL: %d %s", rec.Code, rec.Body)
		}
		rec := post(path, b24.Bitrix24.InstallEvent())
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"webhook_secret_stored":true`) {
			t.Fatalf("ONAPPINSTALL: %d %s", rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), bitrix24test.ApplicationToken) {
			t.Fatalf("the answer shows the token: %s", rec.Body)
		}
		e.inv.take()
		if rec := post(path, event); rec.Code != http.StatusOK {
			t.Fatalf("event after ONAPPINSTALL: %d %s", rec.Code, rec.Body)
		}
		_, got := e.inv.take()
		if len(got) != 1 || !cmp.Equal(got[0].Changes, []connectors.Change{{Kind: connectors.KindDeal, EntityID: "20001"}}) {
			t.Errorf("invalidations: %+v", got)
		}
		event.Set("auth[application_token]", "attacker")
		if rec := post(path, event); rec.Code != http.StatusUnauthorized {
			t.Errorf("event with another token: %d %s", rec.Code, rec.Body)
		}
		// A second install event cannot replace the stored token.
		again := b24.Bitrix24.InstallEvent()
		again.Set("auth[application_token]", "attacker")
		if rec := post(path, again); rec.Code != http.StatusUnauthorized {
			t.Errorf("second ONAPPINSTALL with another token: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("Pipedrive", func(t *testing.T) {
		path := link(pd)
		id, _ := strconv.ParseInt(path[strings.LastIndex(path, "/")+1:], 10, 64)
		body := `{"meta":{"action":"change","entity":"deal","entity_id":"7"},"data":{"id":7,"owner_id":102},"previous":{"owner_id":101}}`
		hook := func(user, pass string) int {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if user != "" {
				req.SetBasicAuth(user, pass)
			}
			return e.serve(req).Code
		}
		e.inv.take()
		if code := hook(pipedrive.WebhookAuth(pd.OAuth.ClientSecret, id)); code != http.StatusOK {
			t.Fatalf("hook: %d", code)
		}
		_, got := e.inv.take()
		if len(got) != 1 || !cmp.Equal(got[0].Changes, []connectors.Change{{Kind: connectors.KindDeal, EntityID: "7", ResponsibleUserID: "102"}}) {
			t.Errorf("invalidations: %+v", got)
		}
		if code := hook(pipedrive.WebhookAuth(pd.OAuth.ClientSecret, id+1)); code != http.StatusUnauthorized {
			t.Errorf("another account's credentials: %d", code)
		}
		if code := hook("", ""); code != http.StatusUnauthorized {
			t.Errorf("no credentials: %d", code)
		}
	})
}
