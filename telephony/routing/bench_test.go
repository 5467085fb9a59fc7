package routing_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/telephony/routing"
)

// memDirectory is an in-memory Directory: one tenant with a DID, 100
// employees, each linked to a CRM user.
type memDirectory struct {
	tenant telephony.Tenant
	emps   []telephony.Employee
	links  map[int64][]mapping.Link
}

func (d *memDirectory) Tenant(ctx context.Context, id int64) (telephony.Tenant, error) {
	if id != d.tenant.ID {
		return telephony.Tenant{}, telephony.Errorf(telephony.ENotFound, "", "no tenant %d", id)
	}
	return d.tenant, nil
}

func (d *memDirectory) TenantByNumber(ctx context.Context, n string) (telephony.Tenant, error) {
	if n != did {
		return telephony.Tenant{}, telephony.Errorf(telephony.ENotFound, "", "no tenant has %s", n)
	}
	return d.tenant, nil
}

func (d *memDirectory) Employees(context.Context, int64, telephony.EmployeeFilter) ([]telephony.Employee, error) {
	return d.emps, nil
}

func (d *memDirectory) Departments(context.Context, int64) ([]telephony.Department, error) {
	return nil, nil
}

func (d *memDirectory) RoutingAccounts(context.Context, int64) ([]connectors.Account, error) {
	return []connectors.Account{{ID: 1, Connector: "mem", Status: connectors.StatusConnected}}, nil
}

func (d *memDirectory) RoutingLinks(context.Context, int64) (map[int64][]mapping.Link, error) {
	return d.links, nil
}

// memCRM knows callers whose number ends in 1–9 (the ones ending in 0 are
// unknown), each a contact owned by one of 100 users.
type memCRM struct{ connectors.Connector }

func (memCRM) FindByPhone(ctx context.Context, kind connectors.EntityKind, phone string) ([]connectors.Entity, error) {
	if kind != connectors.KindContact || phone[len(phone)-1] == '0' {
		return []connectors.Entity{}, nil
	}
	n := len(phone)
	return []connectors.Entity{{Kind: kind, ID: phone[1:], ResponsibleUserID: phone[n-2:], UpdatedAt: time.Now()}}, nil
}

func (memCRM) ConnectorFor(context.Context, int64) (connectors.Connector, error) {
	return memCRM{}, nil
}

// benchResolver is a Resolver with benchCallers callers cached, built once
// for every round of the benchmark.
var benchResolver = sync.OnceValues(func() (*routing.Resolver, error) {
	dir := &memDirectory{
		tenant: telephony.Tenant{ID: 1, Name: "Bench", Region: "UA", TimeZone: "Europe/Kyiv", Routing: telephony.DefaultRouting()},
		links:  map[int64][]mapping.Link{},
	}
	for u := range 100 {
		dir.emps = append(dir.emps, telephony.Employee{ID: int64(u + 1), FullName: fmt.Sprintf("Employee %d", u), Enabled: true,
			Devices: telephony.DevicesAll, SIPStatus: telephony.SIPOnline,
			MainContacts: []string{fmt.Sprintf("sip:e%d@pbx.example", u), fmt.Sprintf("+38050%07d", u)},
			Schedule:     []telephony.Slot{{Weekday: time.Monday, Start: "00:00", End: "24:00"}}})
		dir.links[1] = append(dir.links[1], mapping.Link{CRMUserID: fmt.Sprintf("%02d", u), EmployeeID: int64(u + 1), Rule: "email"})
	}
	r := &routing.Resolver{Directory: dir, Connections: memCRM{}, LocalSize: 2 * benchCallers, Now: func() time.Time { return monday10 }}
	if err := r.Open(context.Background()); err != nil {
		return nil, err
	}
	routed := 0
	for i := range benchCallers {
		if d := r.Resolve(context.Background(), benchQuery(i)); d.Outcome == telephony.OutcomeRouted {
			routed++
		}
	}
	if routed != benchCallers*9/10 {
		return nil, fmt.Errorf("%d callers routed, want %d", routed, benchCallers*9/10)
	}
	return r, nil
})

const benchCallers = 100_000

func benchQuery(i int) telephony.RouteQuery {
	return telephony.RouteQuery{CallID: "c", Caller: fmt.Sprintf("+38067%07d", i), DID: did}
}

// BenchmarkResolver_Cached measures the SIP router's hot path: 100,000
// callers in the in-process cache (10% unknown to the CRM, answered with
// the fallback), the tenant's snapshot in memory, callers sent as E.164,
// on every core.
func BenchmarkResolver_Cached(b *testing.B) {
	r, err := benchResolver()
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// The caller is written into a buffer per goroutine, as the SIP
		// parser hands it over: fresh in the CPU cache, not a string
		// among 100,000 others in memory.
		buf := make([]byte, 0, 16)
		q := telephony.RouteQuery{CallID: "c", DID: did}
		i := rand.IntN(benchCallers)
		for pb.Next() {
			buf = strconv.AppendInt(append(buf[:0], "+38067"...), int64(10_000_000+i), 10)
			copy(buf[6:], buf[7:]) // drop the leading 1: seven digits with zeros
			q.Caller = unsafe.String(&buf[0], len(buf)-1)
			if _, ok := r.Cached(q); !ok {
				b.Fatal("cache miss")
			}
			i = (i + 7919) % benchCallers // a prime stride: no two goroutines walk in step
		}
	})
}

// BenchmarkResolver_CachedNational is the hot path for a PBX that sends
// national numbers ("067…"): one more cache lookup for the normal form.
func BenchmarkResolver_CachedNational(b *testing.B) {
	dir := &memDirectory{
		tenant: telephony.Tenant{ID: 1, Name: "Bench", Region: "UA", TimeZone: "Europe/Kyiv", Routing: telephony.DefaultRouting()},
		emps: []telephony.Employee{{ID: 1, FullName: "E", Enabled: true, Devices: telephony.DevicesAll,
			MainContacts: []string{"sip:e@pbx.example"}}},
		links: map[int64][]mapping.Link{1: {{CRMUserID: "67", EmployeeID: 1}}},
	}
	r := &routing.Resolver{Directory: dir, Connections: memCRM{}}
	if err := r.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	q := telephony.RouteQuery{Caller: "067 123 45 67", DID: did}
	r.Resolve(context.Background(), q)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, ok := r.Cached(q); !ok {
			b.Fatal("cache miss")
		}
	}
}
