package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/hubspot/hubspottest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/telephony/routing"
	"github.com/crmsync/crmsync/web"
)

var (
	_ web.Router           = (*routing.Resolver)(nil)
	_ web.Invalidator      = (*routing.Invalidator)(nil)
	_ web.DecisionRecorder = (*routing.Recorder)(nil)
)

// fakeCRM is the Connections of the routers: connectortest's in-memory
// CRM for every account.
type fakeCRM struct{ b *connectortest.Backend }

func (f fakeCRM) ConnectorFor(context.Context, int64) (connectors.Connector, error) {
	return connectortest.NewFake(f.b), nil
}

// A signed HubSpot webhook that moves a deal to another owner changes the
// next answer of every router, and of the route tester.
func TestServer_Hooks_InvalidateRouters(t *testing.T) {
	ctx := context.Background()
	db := storetest.MustOpen(t)
	e := newRoutingEnv(t, db)
	acct := e.linkHubSpot(e.a)
	crm := connectortest.NewBackend()
	crm.AddRecords(
		connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact, ID: "9001", ResponsibleUserID: "101",
			Phones: []string{"+380671234567"}, UpdatedAt: time.Now()}},
		connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindDeal, ID: "9003", ResponsibleUserID: "101",
			UpdatedAt: time.Now()}, Links: []string{"9001"}},
	)
	ivan := e.a.mustCreate("/api/v1/employees", map[string]any{"email": "ivan@acme.example", "full_name": "Ivan Petrov",
		"main_contacts": []string{"sip:ivan@pbx.example"}})
	e.a.mustCreate("/api/v1/employees", map[string]any{"email": "olena@acme.example", "full_name": "Olena Koval",
		"main_contacts": []string{"sip:olena@pbx.example"}})
	if _, err := db.ApplyUserSync(ctx, e.a.tenant.ID, acct.ID, []mapping.CRMUser{
		{ID: "101", Email: "ivan@acme.example", Active: true}, {ID: "102", Email: "olena@acme.example", Active: true},
	}); err != nil {
		t.Fatal(err)
	}

	rc := mustRedis(t)
	prefix := testenv.RandomName("web-routing-test:") + ":"
	newResolver := func() *routing.Resolver {
		r := &routing.Resolver{Directory: db, Connections: fakeCRM{crm}, Redis: rc, KeyPrefix: prefix, Channel: prefix + "inv"}
		if err := r.Open(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	r1, r2 := newResolver(), newResolver()
	e.router = nil
	e.h = (&web.Server{Tenants: db, Directory: db, Routing: web.Routing{
		Router: r1, Decisions: db, HookAccounts: db, HookConnectors: e.hooks,
		Invalidator: &routing.Invalidator{Redis: rc, KeyPrefix: prefix, Channel: prefix + "inv"},
	}}).Handler()

	q := telephony.RouteQuery{CallID: "c1", Caller: "+380671234567", DID: "+380441234567"}
	for i, r := range []*routing.Resolver{r1, r2} {
		if d := r.Resolve(ctx, q); d.EmployeeID != int64(ivan["id"].(float64)) {
			t.Fatalf("router %d before: %+v", i+1, d)
		}
	}
	if err := crm.UpdateRecord("9003", func(r *connectortest.Record) { r.ResponsibleUserID = "102" }); err != nil {
		t.Fatal(err)
	}
	rec := e.serve(hubspotHook(t, "/hooks/hubspot/"+strconv.FormatInt(acct.ID, 10), []hubspottest.WebhookEvent{
		{SubscriptionType: "deal.propertyChange", ObjectID: 9003, PropertyName: "hubspot_owner_id", PropertyValue: "102"},
	}))
	if rec.Code != http.StatusOK {
		t.Fatalf("hook: %d %s", rec.Code, rec.Body)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for i, r := range []*routing.Resolver{r1, r2} {
		// The message reaches each router asynchronously: poll, with a
		// deadline.
		for deadline := time.Now().Add(5 * time.Second); ; <-tick.C {
			if _, ok := r.Cached(q); !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("router %d still answers from memory", i+1)
			}
		}
		if d := r.Resolve(ctx, q); d.Contacts[0] != "sip:olena@pbx.example" {
			t.Errorf("router %d after: %+v", i+1, d)
		}
	}
	body := e.a.do("GET", "/api/v1/route?format=text&caller=%2B380671234567&did="+url.QueryEscape("+380441234567"), nil).Body
	if string(body) != "sip:olena@pbx.example" {
		t.Errorf("route tester after the hook: %q", body)
	}
}

// mustRedis is the test Redis in database 14 (testenv's 15 is flushed by
// other packages' tests meanwhile); keys carry a per-test prefix.
func mustRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	u, err := url.Parse(testenv.RedisURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/14"
	opts, err := redis.ParseURL(u.String())
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { c.Close() })
	return c
}
