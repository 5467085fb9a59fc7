package routing_test

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/all/alltest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/telephony/routing"
	"github.com/crmsync/crmsync/telephony/siprouter"
)

var (
	_ siprouter.Resolver = (*routing.Resolver)(nil)
	_ siprouter.Recorder = (*routing.Recorder)(nil)
	_ routing.Directory  = (*store.DB)(nil)
)

// Numbers of the fixture.
const (
	did    = "+380441234567"
	caller = "+380671234567" // the client the CRM knows
	// CRM users, each linked by email to one employee.
	userLead    = "101" // owns the lead → ivan
	userDeal    = "102" // owns the deal → olena
	userContact = "103" // owns the contact → petro
	userNobody  = "104" // no employee matches
)

// monday10 is Monday 2025-07-07 10:00 in Kyiv (UTC+3 in summer).
var monday10 = time.Date(2025, 7, 7, 7, 0, 0, 0, time.UTC)

// fixture is a tenant (region UA, Europe/Kyiv) with a DID, three
// employees linked to CRM users of an account of one CRM played by its
// fake, and a caller who is a contact with a lead and a deal.
type fixture struct {
	t       *testing.T
	crmName string // registry name
	db      *store.DB
	tenant  telephony.Tenant
	account store.Account
	crm     *connectortest.Backend
	conns   *conns
	emp     map[string]telephony.Employee
	redis   *redis.Client
	prefix  string // Redis keys and channel of this test
	clock   *clock
}

// eachCRM runs test once per CRM (alltest.Names), as parallel subtests
// with a fixture each: the Redis keys are per fixture.
func eachCRM(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, name := range alltest.Names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if info, _ := connectors.Lookup(name); info.Kinds[connectors.KindLead] == "" {
				// amoCRM: its "leads" are deals, and its pre-deal leads
				// cannot be searched by phone; the fixture routes by lead.
				t.Skipf("%s has no searchable lead kind, which every case here routes by", name)
			}
			test(t, newFixture(t, name))
		})
	}
}

// newFixture builds the fixture on the fake of the CRM crm (a registry
// name).
func newFixture(t *testing.T, crm string) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, crmName: crm, db: storetest.MustOpen(t), crm: connectortest.NewBackend(), emp: map[string]telephony.Employee{},
		redis: mustRedis(t), prefix: testenv.RandomName("routing-test:") + ":", clock: &clock{}}
	f.clock.set(monday10)
	tn, _, err := f.db.CreateTenant(ctx, telephony.NewTenant{Name: "Acme", Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		t.Fatal(err)
	}
	f.tenant = tn
	f.setRouting(func(r *telephony.Routing) { r.Deadline = 5000 })
	if _, err := f.db.CreateNumber(ctx, tn.ID, telephony.NumberInput{Number: did}); err != nil {
		t.Fatal(err)
	}
	srv := alltest.Start(t, crm, f.crm, nil)
	f.account, err = f.db.LinkAccount(ctx, tn.ID, store.LinkAccount{Connector: crm, Name: "portal",
		ExternalID: "4242", BaseURL: srv.BaseURL, Token: srv.IssueToken(time.Now().Add(24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	f.conns = &conns{m: map[int64]connectors.Connector{f.account.ID: srv.Connector(t, f.account.ID)}}

	for short, in := range map[string]telephony.EmployeeInput{
		"ivan":  {FullName: "Ivan Petrov", Email: "ivan@acme.example", MainContacts: []string{"sip:ivan@pbx.example", "+380501112233"}},
		"olena": {FullName: "Olena Koval", Email: "olena@acme.example", MainContacts: []string{"sip:olena@pbx.example"}},
		"petro": {FullName: "Petro Bondar", Email: "petro@acme.example", MainContacts: []string{"+380502223344"}},
	} {
		e, err := f.db.CreateEmployee(ctx, tn.ID, in)
		if err != nil {
			t.Fatalf("create %s: %v", short, err)
		}
		f.emp[short] = e
	}
	f.crm.AddUsers(
		connectors.User{ID: userLead, Name: "Ivan", Email: "ivan@acme.example", Active: true},
		connectors.User{ID: userDeal, Name: "Olena", Email: "olena@acme.example", Active: true},
		connectors.User{ID: userContact, Name: "Petro", Email: "petro@acme.example", Active: true},
		connectors.User{ID: userNobody, Name: "Nobody", Email: "nobody@elsewhere.example", Active: true},
	)
	var users []mapping.CRMUser
	for _, u := range f.crm.Users() {
		users = append(users, mapping.CRMUser{ID: u.ID, Name: u.Name, Email: u.Email, Active: u.Active})
	}
	if _, err := f.db.ApplyUserSync(ctx, tn.ID, f.account.ID, users); err != nil {
		t.Fatal(err)
	}
	return f
}

// addClient adds the caller as a contact owned by userContact, with a lead
// (userLead) and a deal (userDeal) linked to it; opts adjust the records.
func (f *fixture) addClient(opts ...func(*connectortest.Record)) {
	at := monday10.Add(-24 * time.Hour)
	recs := []connectortest.Record{
		{Entity: connectors.Entity{Kind: connectors.KindContact, ID: "9001", Title: "Client One", ResponsibleUserID: userContact,
			Phones: []string{"+380 67 123 45 67"}, UpdatedAt: at}},
		// A Bitrix24 lead holds its own phone; the others reach it through
		// the contact.
		{Entity: connectors.Entity{Kind: connectors.KindLead, ID: "9002", Title: "Lead", ResponsibleUserID: userLead, UpdatedAt: at,
			Phones: []string{"+380 67 123 45 67"}}, Links: []string{"9001"}},
		{Entity: connectors.Entity{Kind: connectors.KindDeal, ID: "9003", Title: "Deal", ResponsibleUserID: userDeal, UpdatedAt: at},
			Links: []string{"9001"}},
	}
	for i := range recs {
		for _, opt := range opts {
			opt(&recs[i])
		}
	}
	f.crm.AddRecords(recs...)
}

// setRouting changes the tenant's routing settings.
func (f *fixture) setRouting(change func(*telephony.Routing)) {
	f.t.Helper()
	r := f.tenant.Routing
	change(&r)
	if err := f.db.UpdateRouting(context.Background(), f.tenant.ID, r); err != nil {
		f.t.Fatal(err)
	}
	f.tenant.Routing = r
}

// patch changes an employee through the store.
func (f *fixture) patch(short, patch string) {
	f.t.Helper()
	var p telephony.EmployeePatch
	if err := jsonUnmarshal(patch, &p); err != nil {
		f.t.Fatal(err)
	}
	e, err := f.db.PatchEmployee(context.Background(), f.tenant.ID, f.emp[short].ID, p)
	if err != nil {
		f.t.Fatalf("patch %s: %v", short, err)
	}
	f.emp[short] = e
}

// resolver opens a Resolver over the fixture, sharing Redis keys and
// channel with the fixture's other resolvers.
func (f *fixture) resolver(opts ...func(*routing.Resolver)) *routing.Resolver {
	f.t.Helper()
	r := &routing.Resolver{
		Directory: f.db, Connections: f.conns, Redis: f.redis, Registerer: prometheus.NewRegistry(),
		Now: f.clock.now, KeyPrefix: f.prefix, Channel: f.prefix + "invalidate",
	}
	for _, opt := range opts {
		opt(r)
	}
	if err := r.Open(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { r.Close() })
	return r
}

func (f *fixture) invalidator() *routing.Invalidator {
	return &routing.Invalidator{Redis: f.redis, KeyPrefix: f.prefix, Channel: f.prefix + "invalidate"}
}

// query is an INVITE from raw to the fixture's DID.
func query(raw string) telephony.RouteQuery {
	return telephony.RouteQuery{CallID: "call-1", Caller: raw, DID: did}
}

// crmRequests is how many search requests the fake CRM has served.
func (f *fixture) crmRequests() int {
	return f.crm.Requests("")
}

// quietRequests waits until the fake CRM has served no request for 200 ms
// (lookups the resolver no longer waits for finish in the background) and
// returns how many it served.
func (f *fixture) quietRequests() int {
	f.t.Helper()
	n := f.crmRequests()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		m := f.crmRequests()
		if m == n {
			return n
		}
		n = m
	}
	f.t.Fatal("the fake CRM is still being asked after 5 s")
	return n
}

// conns is the Connections of a test: a connector per account.
type conns struct {
	mu  sync.Mutex
	m   map[int64]connectors.Connector
	err error
	n   atomic.Int64
}

func (c *conns) ConnectorFor(ctx context.Context, id int64) (connectors.Connector, error) {
	c.n.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	conn, ok := c.m[id]
	if !ok {
		return nil, connectors.ErrNotFound
	}
	return conn, nil
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// mustRedis returns a client of the test Redis in database 14: testenv's
// database 15 is flushed by other packages' tests running at the same time,
// and these tests keep state in Redis between steps. Keys and channels
// carry a per-test prefix instead.
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

// eventually polls cond until it holds, failing after 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-tick.C
	}
}
