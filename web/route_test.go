package web_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/web"
)

// routingEnv is env with the routing side wired to fakes: tenant A owns
// +380441234567, tenant B +380442222222.
type routingEnv struct {
	*env
	router *fakeRouter
	rec    *fakeRecorder
	inv    *fakeInvalidator
	hooks  *fakeHookConnectors
}

func newRoutingEnv(t *testing.T, db *store.DB) *routingEnv {
	e := &routingEnv{env: &env{t: t, db: db}, router: &fakeRouter{}, rec: &fakeRecorder{}, inv: &fakeInvalidator{},
		hooks: &fakeHookConnectors{m: map[int64]connectors.Connector{}}}
	e.h = (&web.Server{Tenants: db, Directory: db, Routing: web.Routing{
		Router: e.router, Decisions: db, Recorder: e.rec, Invalidator: e.inv, HookAccounts: db, HookConnectors: e.hooks,
	}}).Handler()
	e.a = e.mustTenant("19079")
	e.b = e.mustTenant("20000")
	for _, n := range []struct {
		c      apiClient
		number string
	}{{e.a, "+380441234567"}, {e.b, "+380442222222"}} {
		if _, err := db.CreateNumber(context.Background(), n.c.tenant.ID, telephony.NumberInput{Number: n.number}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// fakeRouter answers with Decision and remembers the queries.
type fakeRouter struct {
	mu       sync.Mutex
	Decision telephony.Decision
	queries  []telephony.RouteQuery
}

func (f *fakeRouter) Explain(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	d := f.Decision
	d.TenantID, d.DID = q.TenantID, q.DID
	return d
}

func (f *fakeRouter) take() []telephony.RouteQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queries
	f.queries = nil
	return q
}

type fakeRecorder struct {
	mu  sync.Mutex
	ids []string
}

func (f *fakeRecorder) Record(d telephony.Decision, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, id)
}

var routed = telephony.Decision{Outcome: telephony.OutcomeRouted, Contacts: []string{"sip:ivan@pbx.example", "+380501112233"},
	Reason: "responsible manager Ivan Petrov is available", Steps: []string{"tenant …", "→ 302 to sip:ivan@pbx.example"},
	Caller: "+380671234567", EntityKind: "lead", EntityID: "9002", CRMUserID: "101", EmployeeID: 7, Cache: telephony.CacheMiss}

func TestServer_Route(t *testing.T) {
	e := newRoutingEnv(t, storetest.MustOpen(t))
	e.router.Decision = routed

	t.Run("JSON", func(t *testing.T) {
		var got map[string]any
		e.a.do("GET", "/api/v1/route?caller=067+123+45+67&did=044+123+45+67", nil).decode(t, http.StatusOK, &got)
		want := telephony.RouteQuery{Caller: "067 123 45 67", DID: "+380441234567", TenantID: e.a.tenant.ID}
		if diff := cmp.Diff([]telephony.RouteQuery{want}, e.router.take()); diff != "" {
			t.Errorf("query (-want +got):\n%s", diff)
		}
		for k, v := range map[string]any{"outcome": "routed", "sip_status": float64(302), "reason": routed.Reason,
			"entity_kind": "lead", "crm_user_id": "101", "did": "+380441234567"} {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		if steps, _ := got["steps"].([]any); len(steps) != 2 {
			t.Errorf("steps = %v", got["steps"])
		}
	})
	t.Run("Text", func(t *testing.T) {
		for _, r := range []response{
			e.a.do("GET", "/api/v1/route?format=text&caller=%2B380671234567&did=%2B380441234567", nil),
			e.a.withHeader("Accept", "text/plain").do("GET", "/api/v1/route?caller=%2B380671234567&did=%2B380441234567", nil),
		} {
			if r.Status != http.StatusOK || string(r.Body) != "sip:ivan@pbx.example" ||
				r.Header.Get("X-Crmsync-Outcome") != "routed" || r.Header.Get("X-Crmsync-Contacts") != "sip:ivan@pbx.example,+380501112233" {
				t.Errorf("text: %d %q %v", r.Status, r.Body, r.Header)
			}
		}
		e.router.Decision = telephony.Decision{Outcome: telephony.OutcomeFallback, Fallback: "not_found", Reason: "no open lead"}
		defer func() { e.router.Decision = routed }()
		r := e.a.do("GET", "/api/v1/route?format=text&caller=%2B380671234567&did=%2B380441234567", nil)
		if r.Status != http.StatusOK || len(r.Body) != 0 || r.Header.Get("X-Crmsync-Reason") != "no open lead" {
			t.Errorf("text fallback: %d %q %v", r.Status, r.Body, r.Header)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		e.router.take()
		// Another tenant's number is not this tenant's to test.
		r := e.a.do("GET", "/api/v1/route?caller=%2B380671234567&did=%2B380442222222", nil)
		if er := r.apiErr(t, http.StatusNotFound); er.Error.Field != "did" {
			t.Errorf("%s", r.Body)
		}
		r = e.a.do("GET", "/api/v1/route?format=text&caller=%2B380671234567&did=%2B380442222222", nil)
		if r.Status != http.StatusNotFound || len(r.Body) != 0 || r.Header.Get("X-Crmsync-Error") == "" {
			t.Errorf("text: %d %q", r.Status, r.Body)
		}
		if q := e.router.take(); len(q) != 0 {
			t.Errorf("the router was asked: %v", q)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, path := range []string{"/api/v1/route?caller=1", "/api/v1/route?caller=1&did=abc"} {
			if er := e.a.do("GET", path, nil).apiErr(t, http.StatusBadRequest); er.Error.Field != "did" {
				t.Errorf("%s: field %q", path, er.Error.Field)
			}
		}
	})
	t.Run("WithheldAndRecorded", func(t *testing.T) {
		e.a.do("GET", "/api/v1/route?caller=&did=%2B380441234567&call_id=abc-1", nil).decode(t, http.StatusOK, nil)
		if q := e.router.take(); len(q) != 1 || q[0].Caller != "anonymous" || q[0].CallID != "abc-1" {
			t.Errorf("queries %+v", q)
		}
		if diff := cmp.Diff([]string{"abc-1"}, e.rec.ids); diff != "" {
			t.Errorf("recorded (-want +got):\n%s", diff)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		c := e.a
		c.key = "wrong"
		c.do("GET", "/api/v1/route?caller=1&did=%2B380441234567", nil).apiErr(t, http.StatusUnauthorized)
	})
}

func TestServer_CallRoute(t *testing.T) {
	e := newRoutingEnv(t, storetest.MustOpen(t))
	d := routed
	d.TenantID, d.DID = e.a.tenant.ID, "+380441234567"
	if err := e.db.RecordDecision(context.Background(), d, "a84b4c76e66710@pc33.example.com"); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	e.a.do("GET", "/api/v1/calls/a84b4c76e66710@pc33.example.com/route", nil).decode(t, http.StatusOK, &got)
	if got["sip_call_id"] != "a84b4c76e66710@pc33.example.com" || got["outcome"] != "routed" || got["recorded_at"] == nil ||
		got["employee_id"] != float64(7) {
		t.Errorf("%v", got)
	}
	e.b.do("GET", "/api/v1/calls/a84b4c76e66710@pc33.example.com/route", nil).apiErr(t, http.StatusNotFound)
	e.a.do("GET", "/api/v1/calls/unknown/route", nil).apiErr(t, http.StatusNotFound)
}

// withHeader returns a client that also sends the header.
func (c apiClient) withHeader(name, value string) headerClient {
	return headerClient{c, name, value}
}

type headerClient struct {
	apiClient
	name, value string
}

func (c headerClient) do(method, path string, body any) response {
	c.env.t.Helper()
	h := c.env.h
	defer func() { c.env.h = h }()
	c.env.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set(c.name, c.value)
		h.ServeHTTP(w, r)
	})
	return c.apiClient.do(method, path, body)
}
