package routing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/telephony/routing"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// route is the part of a decision the table tests compare.
type route struct {
	Outcome  telephony.Outcome
	Contacts []string
	Employee string // short name, "" for none
	Kind     string
	Reason   string // a substring of the reason
}

func (f *fixture) route(d telephony.Decision, reason string) route {
	r := route{Outcome: d.Outcome, Contacts: d.Contacts, Kind: d.EntityKind}
	for short, e := range f.emp {
		if e.ID == d.EmployeeID {
			r.Employee = short
		}
	}
	if strings.Contains(d.Reason, reason) {
		r.Reason = reason
	} else {
		r.Reason = d.Reason
	}
	return r
}

var (
	toIvan  = []string{"sip:ivan@pbx.example", "+380501112233"}
	toOlena = []string{"sip:olena@pbx.example"}
	toPetro = []string{"+380502223344"}
)

func TestResolver_Resolve(t *testing.T) {
	closed := func(kinds ...connectors.EntityKind) func(*connectortest.Record) {
		return func(r *connectortest.Record) {
			for _, k := range kinds {
				if r.Kind == k {
					r.Closed = true
				}
			}
		}
	}
	owner := func(kind connectors.EntityKind, user string) func(*connectortest.Record) {
		return func(r *connectortest.Record) {
			if r.Kind == kind {
				r.ResponsibleUserID = user
			}
		}
	}
	for _, tc := range []struct {
		name    string
		order   []string
		records []func(*connectortest.Record) // nil: no client in the CRM
		noCRM   bool
		setup   func(f *fixture)
		at      time.Time // zero: monday10
		caller  string    // empty: caller
		want    route
	}{
		{name: "LeadDealContact", order: []string{"lead", "deal", "contact"},
			want: route{Outcome: telephony.OutcomeRouted, Contacts: toIvan, Employee: "ivan", Kind: "lead", Reason: "Ivan Petrov is available"}},
		{name: "DealContact", order: []string{"deal", "contact"},
			want: route{Outcome: telephony.OutcomeRouted, Contacts: toOlena, Employee: "olena", Kind: "deal", Reason: "Olena Koval"}},
		{name: "ContactFirst", order: []string{"contact", "lead", "deal"},
			want: route{Outcome: telephony.OutcomeRouted, Contacts: toPetro, Employee: "petro", Kind: "contact", Reason: "Petro Bondar"}},
		{name: "LeadOnly", order: []string{"lead"},
			want: route{Outcome: telephony.OutcomeRouted, Contacts: toIvan, Employee: "ivan", Kind: "lead", Reason: "Ivan"}},
		{name: "ClosedLeadSkipped", records: []func(*connectortest.Record){closed(connectors.KindLead)},
			want: route{Outcome: telephony.OutcomeRouted, Contacts: toOlena, Employee: "olena", Kind: "deal", Reason: "Olena"}},
		{name: "ClosedLeadAndDealSkipped", records: []func(*connectortest.Record){closed(connectors.KindLead, connectors.KindDeal)},
			want: route{Outcome: telephony.OutcomeRouted, Contacts: toPetro, Employee: "petro", Kind: "contact", Reason: "Petro"}},
		{name: "OnlyClosedInOrder", order: []string{"lead", "deal"}, records: []func(*connectortest.Record){closed(connectors.KindLead, connectors.KindDeal)},
			want: route{Outcome: telephony.OutcomeFallback, Reason: "no open lead or deal has this number"}},
		{name: "UnknownCaller", noCRM: true,
			want: route{Outcome: telephony.OutcomeFallback, Reason: "no open lead, deal or contact has this number"}},
		{name: "UnlinkedCRMUser", records: []func(*connectortest.Record){owner(connectors.KindLead, userNobody)},
			want: route{Outcome: telephony.OutcomeFallback, Kind: "lead", Reason: "CRM user 104 has no linked employee"}},
		{name: "UnknownCRMUser", records: []func(*connectortest.Record){owner(connectors.KindLead, "999")},
			want: route{Outcome: telephony.OutcomeFallback, Kind: "lead", Reason: "CRM user 999 has no linked employee"}},
		{name: "Disabled", setup: func(f *fixture) { f.patch("ivan", `{"enabled": false}`) },
			want: route{Outcome: telephony.OutcomeFallback, Employee: "ivan", Kind: "lead", Reason: "Ivan Petrov is switched off"}},
		{name: "InScheduleInTenantZone", setup: func(f *fixture) {
			f.patch("ivan", `{"schedule": [{"weekday": "mon", "start": "09:00", "end": "18:00"}]}`)
		},
			at:   time.Date(2025, 7, 7, 6, 30, 0, 0, time.UTC), // 09:30 in Kyiv, 06:30 in UTC
			want: route{Outcome: telephony.OutcomeRouted, Contacts: toIvan, Employee: "ivan", Kind: "lead", Reason: "Ivan"}},
		{name: "OutOfSchedule", setup: func(f *fixture) {
			f.patch("ivan", `{"schedule": [{"weekday": "mon", "start": "09:00", "end": "18:00"}]}`)
		},
			at:   time.Date(2025, 7, 7, 15, 30, 0, 0, time.UTC), // 18:30 in Kyiv, 15:30 in UTC
			want: route{Outcome: telephony.OutcomeFallback, Employee: "ivan", Kind: "lead", Reason: "Ivan Petrov is outside working hours"}},
		{name: "AbsentRedirectEmployee", setup: func(f *fixture) {
			f.patch("ivan", fmt.Sprintf(`{"absences": [{"kind": "vacation", "starts_at": "2025-07-01T00:00:00Z",
				"ends_at": "2025-07-14T00:00:00Z", "redirect": {"kind": "employee", "id": %d}}]}`, f.emp["olena"].ID))
		}, want: route{Outcome: telephony.OutcomeRedirect, Contacts: toOlena, Employee: "ivan", Kind: "lead",
			Reason: "Ivan Petrov is absent (vacation until 2025-07-14 03:00 EEST); redirected to Olena Koval"}},
		{name: "AbsentRedirectDepartment", setup: func(f *fixture) {
			d, err := f.db.CreateDepartment(context.Background(), f.tenant.ID, telephony.DepartmentInput{Name: "Sales", Extension: "500"})
			if err != nil {
				f.t.Fatal(err)
			}
			f.patch("ivan", fmt.Sprintf(`{"absences": [{"kind": "sick_leave", "starts_at": "2025-07-01T00:00:00Z",
				"ends_at": "2025-07-14T00:00:00Z", "redirect": {"kind": "department", "id": %d}}]}`, d.ID))
		}, want: route{Outcome: telephony.OutcomeRedirect, Contacts: []string{"500"}, Employee: "ivan", Kind: "lead",
			Reason: "redirected to department Sales"}},
		{name: "AbsentRedirectTargetOff", setup: func(f *fixture) {
			f.patch("olena", `{"enabled": false}`)
			f.patch("ivan", fmt.Sprintf(`{"absences": [{"kind": "vacation", "starts_at": "2025-07-01T00:00:00Z",
				"ends_at": "2025-07-14T00:00:00Z", "redirect": {"kind": "employee", "id": %d}}]}`, f.emp["olena"].ID))
		}, want: route{Outcome: telephony.OutcomeFallback, Employee: "ivan", Kind: "lead", Reason: "Olena Koval is switched off"}},
		{name: "AbsentNoRedirect", setup: func(f *fixture) {
			f.patch("ivan", `{"absences": [{"kind": "vacation", "starts_at": "2025-07-01T00:00:00Z", "ends_at": "2025-07-14T00:00:00Z"}]}`)
		}, want: route{Outcome: telephony.OutcomeFallback, Employee: "ivan", Kind: "lead", Reason: "Ivan Petrov is absent (vacation"}},
		{name: "AbsenceOver", setup: func(f *fixture) {
			f.patch("ivan", `{"absences": [{"kind": "vacation", "starts_at": "2025-07-01T00:00:00Z", "ends_at": "2025-07-07T06:00:00Z"}]}`)
		}, want: route{Outcome: telephony.OutcomeRouted, Contacts: toIvan, Employee: "ivan", Kind: "lead", Reason: "Ivan"}},
		{name: "SIPOffline", setup: func(f *fixture) { f.patch("ivan", `{"sip_status": "offline"}`) },
			want: route{Outcome: telephony.OutcomeRouted, Contacts: []string{"+380501112233"}, Employee: "ivan", Kind: "lead", Reason: "Ivan"}},
		{name: "SIPOfflineNoPhone", order: []string{"deal"}, setup: func(f *fixture) { f.patch("olena", `{"sip_status": "offline"}`) },
			want: route{Outcome: telephony.OutcomeFallback, Employee: "olena", Kind: "deal", Reason: "SIP phone is offline"}},
		{name: "NationalFormat", caller: "067 123 45 67",
			want: route{Outcome: telephony.OutcomeRouted, Contacts: toIvan, Employee: "ivan", Kind: "lead", Reason: "Ivan"}},
		{name: "SIPURI", caller: "sip:+380671234567@carrier.example;user=phone",
			want: route{Outcome: telephony.OutcomeRouted, Contacts: toIvan, Employee: "ivan", Kind: "lead", Reason: "Ivan"}},
		{name: "TelURI", caller: "tel:+380-67-123-45-67",
			want: route{Outcome: telephony.OutcomeRouted, Contacts: toIvan, Employee: "ivan", Kind: "lead", Reason: "Ivan"}},
		{name: "NotANumber", caller: "sip:alice@example.com",
			want: route{Outcome: telephony.OutcomeFallback, Reason: "is not a phone number"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachCRM(t, func(t *testing.T, f *fixture) {
				if tc.order != nil {
					f.setRouting(func(r *telephony.Routing) { r.Order = tc.order })
				}
				if !tc.noCRM {
					f.addClient(tc.records...)
				}
				if tc.setup != nil {
					tc.setup(f)
				}
				if !tc.at.IsZero() {
					f.clock.set(tc.at)
				}
				raw := tc.caller
				if raw == "" {
					raw = caller
				}
				r := f.resolver()
				if _, ok := r.Cached(query(raw)); ok {
					t.Fatal("Cached answered before any lookup")
				}
				d := r.Resolve(context.Background(), query(raw))
				if diff := cmp.Diff(tc.want, f.route(d, tc.want.Reason)); diff != "" {
					t.Errorf("Resolve (-want +got):\n%s\nreason: %s", diff, d.Reason)
				}
				if tc.want.Outcome == telephony.OutcomeFallback && d.Fallback != telephony.FallbackNotFound {
					t.Errorf("Fallback = %q, want the tenant's not_found", d.Fallback)
				}
				if d.TenantID != f.tenant.ID || d.DID != did {
					t.Errorf("tenant %d, DID %q; want %d, %s", d.TenantID, d.DID, f.tenant.ID, did)
				}
				// The same answer now comes from memory, whatever the form
				// the caller was sent in.
				cd, ok := r.Cached(query(raw))
				if !ok {
					t.Fatal("Cached missed after Resolve")
				}
				if diff := cmp.Diff(tc.want, f.route(cd, tc.want.Reason)); diff != "" {
					t.Errorf("Cached (-want +got):\n%s", diff)
				}
				if cd.Cache != telephony.CacheLocal || cd.Caller != d.Caller {
					t.Errorf("Cached: cache %q caller %q; want local, %q", cd.Cache, cd.Caller, d.Caller)
				}
			})
		})
	}
}

func TestResolver_MostRecentMatch(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.setRouting(func(r *telephony.Routing) { r.Order = []string{"deal"} })
		f.addClient()
		f.crm.AddRecords(connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindDeal, ID: "9004", Title: "Newer deal",
			ResponsibleUserID: userLead, UpdatedAt: monday10.Add(-time.Hour)}, Links: []string{"9001"}},
			connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindDeal, ID: "9005", Title: "Newest, but won",
				ResponsibleUserID: userContact, UpdatedAt: monday10, Closed: true}, Links: []string{"9001"}})
		d := f.resolver().Resolve(context.Background(), query(caller))
		if d.EntityID != "9004" || d.EmployeeID != f.emp["ivan"].ID {
			t.Errorf("deal %s, employee %d; want the most recently updated open deal 9004 → ivan (%s)", d.EntityID, d.EmployeeID, d.Reason)
		}
	})
}

func TestResolver_Anonymous(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		r := f.resolver()
		for _, raw := range []string{"anonymous", "", "Restricted", "sip:anonymous@anonymous.invalid"} {
			d := r.Resolve(context.Background(), query(raw))
			if d.Outcome != telephony.OutcomeFallback || d.Reason != "caller withheld their number" || d.TenantID != f.tenant.ID {
				t.Errorf("%q: %+v; want the tenant's fallback", raw, d)
			}
			if d, ok := r.Cached(query(raw)); !ok || d.Outcome != telephony.OutcomeFallback {
				t.Errorf("%q: Cached %v %+v; want the fallback from memory", raw, ok, d)
			}
		}
		if n := f.crmRequests(); n != 0 {
			t.Errorf("the CRM got %d requests for withheld callers, want 0", n)
		}
	})
}

func TestResolver_Tenant(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		r := f.resolver()
		t.Run("DIDForms", func(t *testing.T) {
			for _, raw := range []string{"380441234567", "+38 (044) 123-45-67", "sip:+380441234567@pbx.example", "00380441234567"} {
				d := r.Resolve(context.Background(), telephony.RouteQuery{Caller: caller, DID: raw})
				if d.TenantID != f.tenant.ID || d.DID != did || d.Outcome != telephony.OutcomeRouted {
					t.Errorf("DID %q: tenant %d DID %q %s (%s); want %d %s routed", raw, d.TenantID, d.DID, d.Outcome, d.Reason, f.tenant.ID, did)
				}
			}
		})
		t.Run("UnknownDID", func(t *testing.T) {
			d := r.Resolve(context.Background(), telephony.RouteQuery{Caller: caller, DID: "+380449999999"})
			if d.Outcome != telephony.OutcomeFallback || d.TenantID != 0 || !strings.Contains(d.Reason, "no tenant has the number") {
				t.Errorf("%+v; want a not_found fallback", d)
			}
		})
		t.Run("TenantID", func(t *testing.T) {
			d := r.Resolve(context.Background(), telephony.RouteQuery{Caller: caller, TenantID: f.tenant.ID})
			if d.TenantID != f.tenant.ID || d.Outcome != telephony.OutcomeRouted {
				t.Errorf("%+v; want routed in the named tenant", d)
			}
			d = r.Resolve(context.Background(), telephony.RouteQuery{Caller: caller, TenantID: f.tenant.ID + 1000})
			if d.Outcome != telephony.OutcomeFallback || !strings.Contains(d.Reason, "does not exist") {
				t.Errorf("unknown tenant: %+v", d)
			}
		})
	})
}

// A CRM slower than the deadline: the call gets the fallback by the
// deadline, the lookup goes on, and the next call is answered from memory.
func TestResolver_SlowCRM(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.setRouting(func(r *telephony.Routing) { r.Deadline = 300 })
		f.addClient()
		// Every kind starts with a contact search; hold all three back.
		f.crm.Inject(connectortest.Fault{Delay: 900 * time.Millisecond, Times: 3})
		r := f.resolver()

		start := time.Now()
		d := r.Resolve(context.Background(), query(caller))
		elapsed := time.Since(start)
		if elapsed > 350*time.Millisecond {
			t.Errorf("Resolve took %s, want the fallback within deadline + 50 ms", elapsed)
		}
		if d.Outcome != telephony.OutcomeFallback || !strings.Contains(d.Reason, "CRM did not answer within 300 ms") {
			t.Errorf("%+v; want the deadline fallback", d)
		}
		eventually(t, "the background lookup warmed the cache", func() bool {
			_, ok := r.Cached(query(caller))
			return ok
		})
		d, _ = r.Cached(query(caller))
		if d.Outcome != telephony.OutcomeRouted || d.EmployeeID != f.emp["ivan"].ID || d.Cache != telephony.CacheLocal {
			t.Errorf("after warming: %+v; want routed to ivan from the local cache", d)
		}
	})
}

// Concurrent INVITEs for one caller share one lookup.
func TestResolver_SingleFlight(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		f.crm.Inject(connectortest.Fault{Delay: 200 * time.Millisecond, Times: 3}) // keep the lookup open while all 50 arrive
		r := f.resolver()
		var wg sync.WaitGroup
		decisions := make([]telephony.Decision, 50)
		for i := range decisions {
			wg.Go(func() { decisions[i] = r.Resolve(context.Background(), query(caller)) })
		}
		wg.Wait()
		for i, d := range decisions {
			if d.Outcome != telephony.OutcomeRouted || d.EmployeeID != f.emp["ivan"].ID {
				t.Fatalf("decision %d: %+v", i, d)
			}
		}
		// One lookup, whatever the CRM: at most a search and a read per
		// kind (connectors share searches between kinds); 50 lookups
		// would send 50 times as many.
		if n := f.crm.Requests(""); n == 0 || n > 2*len(connectors.DefaultOrder) {
			t.Errorf("50 concurrent INVITEs sent %d CRM requests, want one lookup's (1 to %d)", n, 2*len(connectors.DefaultOrder))
		}
	})
}

func TestResolver_CRMError(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		f.crm.Inject(connectortest.Fault{Status: 500, Times: 100})
		r := f.resolver(func(r *routing.Resolver) { r.ErrorTTL = time.Hour })
		d := r.Resolve(context.Background(), query(caller))
		if d.Outcome != telephony.OutcomeFallback || !strings.Contains(d.Reason, "CRM lookup failed") {
			t.Fatalf("%+v; want a fallback naming the CRM failure", d)
		}
		// Kept briefly in this process, so a CRM outage does not make every
		// call wait; never shared through Redis.
		if d, ok := r.Cached(query(caller)); !ok || !strings.Contains(d.Reason, "CRM lookup failed") {
			t.Errorf("Cached %v %+v; want the failure from memory", ok, d)
		}
		if n, _ := f.redis.Exists(context.Background(), f.prefix+"a:"+fmt.Sprint(f.tenant.ID)+":"+caller).Result(); n != 0 {
			t.Error("a failed lookup was written to Redis")
		}
	})
}

func TestResolver_ConnectorError(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		f.conns.err = fmt.Errorf("account needs relinking: %w", connectors.ErrUnauthorized)
		d := f.resolver().Resolve(context.Background(), query(caller))
		if d.Outcome != telephony.OutcomeFallback || !strings.Contains(d.Reason, "needs relinking") {
			t.Errorf("%+v; want a fallback with the reason", d)
		}
		if !errors.Is(f.conns.err, connectors.ErrUnauthorized) {
			t.Fatal("unreachable")
		}
	})
}

func TestResolver_Explain(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		f.patch("ivan", `{"schedule": [{"weekday": "mon", "start": "09:00", "end": "18:00"}]}`)
		r := f.resolver()
		d := r.Explain(context.Background(), query("067 123 45 67"))
		steps := strings.Join(d.Steps, "\n")
		for _, want := range []string{
			"tenant Acme (DID +380441234567)",
			`caller +380671234567 (from "067 123 45 67")`,
			"lead 9002 (open, responsible CRM user 101) found in " + f.crmName + " account",
			"cache miss, asked the CRM",
			"CRM user 101 → employee Ivan Petrov (linked by email)",
			"Ivan Petrov is working now (Mon 09:00–18:00 Europe/Kyiv)",
			"→ 302 to sip:ivan@pbx.example, +380501112233",
		} {
			if !strings.Contains(steps, want) {
				t.Errorf("steps lack %q:\n%s", want, steps)
			}
		}
		d = r.Explain(context.Background(), query(caller))
		if !strings.Contains(strings.Join(d.Steps, "\n"), "in-process cache") {
			t.Errorf("second explain does not say the answer was cached:\n%s", strings.Join(d.Steps, "\n"))
		}
		if d, ok := r.Cached(query(caller)); !ok || d.Steps != nil {
			t.Errorf("Cached: ok %v, steps %q; want no steps on the SIP path", ok, d.Steps)
		}
	})
}
