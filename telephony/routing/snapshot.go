package routing

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/telephony"
)

// Directory is what the resolver reads from storage to build a tenant's
// snapshot; *store.DB satisfies it. Errors with the code
// telephony.ENotFound mean the tenant or number does not exist; anything
// else is an outage.
type Directory interface {
	// Tenant returns the tenant with id.
	Tenant(ctx context.Context, id int64) (telephony.Tenant, error)
	// TenantByNumber returns the tenant that owns the DID did (E.164).
	TenantByNumber(ctx context.Context, did string) (telephony.Tenant, error)
	// Employees lists the tenant's live employees with their contacts,
	// schedules and absences.
	Employees(ctx context.Context, tenantID int64, f telephony.EmployeeFilter) ([]telephony.Employee, error)
	// Departments lists the tenant's departments.
	Departments(ctx context.Context, tenantID int64) ([]telephony.Department, error)
	// RoutingAccounts lists the tenant's CRM accounts, whatever their status.
	RoutingAccounts(ctx context.Context, tenantID int64) ([]connectors.Account, error)
	// RoutingLinks returns the tenant's employee links by account id; a
	// link with EmployeeID 0 is an admin's "no employee".
	RoutingLinks(ctx context.Context, tenantID int64) (map[int64][]mapping.Link, error)
}

// linkKey names a CRM user of an account.
type linkKey struct {
	account int64
	user    string
}

// employee is an employee as routing uses it, with what the cached path
// would otherwise compute per call.
type employee struct {
	telephony.Employee
	contacts      []string // what a 302 sends: main contacts and mobile, per Devices
	phoneContacts []string // contacts without SIP URIs, for a known-offline SIP phone
	routedReason  string
	offReason     string // not enabled
	outReason     string // outside the schedule
	// week is the schedule as minute ranges per weekday; nil: always on.
	week *[7][]minutes
}

// minutes is a schedule slot as minutes since local midnight, end
// exclusive.
type minutes struct{ start, end int }

// inSchedule is telephony.Employee.InScheduleAt over the parsed schedule.
func (e *employee) inSchedule(t time.Time, loc *time.Location) bool {
	if e.week == nil {
		return true
	}
	local := t.In(loc)
	m := local.Hour()*60 + local.Minute()
	for _, s := range e.week[local.Weekday()] {
		if m >= s.start && m < s.end {
			return true
		}
	}
	return false
}

// snapshot is everything the cached path needs about one tenant. It is
// immutable once built; an invalidation replaces it.
type snapshot struct {
	tenant    telephony.Tenant
	loc       *time.Location
	order     []connectors.EntityKind
	orderCode uint16 // order as a number, to compare answers against
	deadline  time.Duration
	fallback  string

	accounts  []connectors.Account // connected ones, by id
	skipped   []connectors.Account // linked but not connected
	connector map[int64]string     // connected account id → connector name
	links     map[linkKey]mapping.Link
	employees map[int64]*employee
	depts     map[int64]telephony.Department

	noMatchReason string
	loadedAt      time.Time // wall clock, for SnapshotTTL
	refreshing    atomic.Bool
}

// loadSnapshot reads a tenant's directory in a handful of queries.
func loadSnapshot(ctx context.Context, dir Directory, t telephony.Tenant, loadedAt time.Time) (*snapshot, error) {
	emps, err := dir.Employees(ctx, t.ID, telephony.EmployeeFilter{})
	if err != nil {
		return nil, fmt.Errorf("employees: %w", err)
	}
	depts, err := dir.Departments(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("departments: %w", err)
	}
	accts, err := dir.RoutingAccounts(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	links, err := dir.RoutingLinks(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("links: %w", err)
	}
	return newSnapshot(t, emps, depts, accts, links, loadedAt), nil
}

func newSnapshot(t telephony.Tenant, emps []telephony.Employee, depts []telephony.Department,
	accts []connectors.Account, links map[int64][]mapping.Link, loadedAt time.Time) *snapshot {
	s := &snapshot{
		tenant:    t,
		loc:       t.Location(),
		deadline:  t.Routing.Deadline.Duration(),
		fallback:  t.Routing.Fallback,
		connector: map[int64]string{},
		links:     map[linkKey]mapping.Link{},
		employees: make(map[int64]*employee, len(emps)),
		depts:     make(map[int64]telephony.Department, len(depts)),
		loadedAt:  loadedAt,
	}
	if s.deadline <= 0 {
		s.deadline = telephony.DefaultDeadline.Duration()
	}
	if s.fallback != telephony.FallbackUnavailable {
		s.fallback = telephony.FallbackNotFound
	}
	for _, k := range t.Routing.Order {
		if kind := connectors.EntityKind(strings.TrimSpace(k)); kind.Valid() && !slices.Contains(s.order, kind) {
			s.order = append(s.order, kind)
		}
	}
	if len(s.order) == 0 {
		s.order = slices.Clone(connectors.DefaultOrder)
	}
	for _, k := range s.order {
		s.orderCode = s.orderCode*4 + uint16(slices.Index(connectors.DefaultOrder, k)+1)
	}
	s.noMatchReason = "no open " + kindList(s.order) + " has this number in the CRM"
	for _, a := range accts {
		if a.Status == connectors.StatusConnected || a.Status == "" {
			s.accounts = append(s.accounts, a)
			s.connector[a.ID] = a.Connector
		} else {
			s.skipped = append(s.skipped, a)
		}
	}
	for acct, ls := range links {
		for _, l := range ls {
			s.links[linkKey{acct, l.CRMUserID}] = l
		}
	}
	for _, d := range depts {
		s.depts[d.ID] = d
	}
	for _, e := range emps {
		s.employees[e.ID] = newEmployee(e)
	}
	return s
}

func newEmployee(e telephony.Employee) *employee {
	out := &employee{Employee: e}
	for _, c := range e.MainContacts {
		sip := !strings.HasPrefix(c, "+")
		if (sip && e.Devices == telephony.DevicesMobile) || (!sip && e.Devices == telephony.DevicesSIP) {
			continue
		}
		out.contacts = append(out.contacts, c)
		if !sip {
			out.phoneContacts = append(out.phoneContacts, c)
		}
	}
	if e.Mobile != "" && e.Devices != telephony.DevicesSIP && !slices.Contains(out.contacts, e.Mobile) {
		out.contacts = append(out.contacts, e.Mobile)
		out.phoneContacts = append(out.phoneContacts, e.Mobile)
	}
	if len(e.Schedule) > 0 {
		out.week = new([7][]minutes)
		for _, sl := range e.Schedule {
			start, end := sl.Minutes()
			out.week[sl.Weekday%7] = append(out.week[sl.Weekday%7], minutes{start, end})
		}
	}
	out.routedReason = "responsible manager " + e.FullName + " is available"
	out.offReason = e.FullName + " is switched off (not working)"
	out.outReason = e.FullName + " is outside working hours"
	return out
}

// kindList writes kinds for people: "lead, deal or contact".
func kindList(kinds []connectors.EntityKind) string {
	var b strings.Builder
	for i, k := range kinds {
		switch {
		case i == 0:
		case i == len(kinds)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(k))
	}
	return b.String()
}

// connected reports whether account id is a connected account of the
// tenant; an answer naming another one is not used.
func (s *snapshot) connected(id int64) bool {
	_, ok := s.connector[id]
	return ok
}

// snapshots holds the tenants' snapshots in a map that is replaced, never
// changed: reads (every call) take no lock and box nothing; writes (a
// load or an invalidation) copy it.
type snapshots struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[int64]*snapshot]
}

func (ss *snapshots) load(id int64) (*snapshot, bool) {
	m := ss.m.Load()
	if m == nil {
		return nil, false
	}
	s, ok := (*m)[id]
	return s, ok
}

// update replaces the map with a copy that change edited.
func (ss *snapshots) update(change func(m map[int64]*snapshot)) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	old := ss.m.Load()
	var next map[int64]*snapshot
	if old == nil {
		next = map[int64]*snapshot{}
	} else {
		next = maps.Clone(*old)
	}
	change(next)
	ss.m.Store(&next)
}

func (ss *snapshots) store(id int64, s *snapshot) {
	ss.update(func(m map[int64]*snapshot) { m[id] = s })
}

func (ss *snapshots) delete(id int64) {
	ss.update(func(m map[int64]*snapshot) { delete(m, id) })
}

func (ss *snapshots) clear() {
	ss.update(func(m map[int64]*snapshot) { clear(m) })
}
