package routing_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/telephony/routing"
)

// A second router answers from the shared Redis cache without asking the
// CRM again.
func TestResolver_RedisShared(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		r1, r2 := f.resolver(), f.resolver()
		if d := r1.Resolve(context.Background(), query(caller)); d.Cache != telephony.CacheMiss || d.Outcome != telephony.OutcomeRouted {
			t.Fatalf("first lookup: %+v", d)
		}
		// The first answer may come before every kind's lookup ended
		// (the lead decides): count from when the CRM has gone quiet.
		before := f.quietRequests()
		if _, ok := r2.Cached(query(caller)); ok {
			t.Fatal("the second router answered from memory it cannot have")
		}
		d := r2.Resolve(context.Background(), query(caller))
		if d.Cache != telephony.CacheRedis || d.Outcome != telephony.OutcomeRouted || d.EmployeeID != f.emp["ivan"].ID {
			t.Errorf("second router: %+v; want ivan from Redis", d)
		}
		if n := f.crmRequests() - before; n != 0 {
			t.Errorf("the second router made %d CRM requests, want 0", n)
		}
		if d, ok := r2.Cached(query(caller)); !ok || d.Cache != telephony.CacheLocal {
			t.Errorf("then from memory: %v %+v", ok, d)
		}
	})
}

// warm resolves the caller in every router and checks it went to want.
func warm(t *testing.T, f *fixture, want string, rs ...*routing.Resolver) {
	t.Helper()
	for i, r := range rs {
		d := r.Resolve(context.Background(), query(caller))
		if d.EmployeeID != f.emp[want].ID {
			t.Fatalf("router %d: %+v; want %s", i, d, want)
		}
		if _, ok := r.Cached(query(caller)); !ok {
			t.Fatalf("router %d: not cached after Resolve", i)
		}
	}
}

// invalidated waits until no router answers the caller from memory.
func invalidated(t *testing.T, rs ...*routing.Resolver) {
	t.Helper()
	for i, r := range rs {
		eventually(t, "router "+string(rune('1'+i))+" dropped the answer", func() bool {
			_, ok := r.Cached(query(caller))
			return !ok
		})
	}
}

// A CRM webhook that changes the responsible user of the lead changes the
// next answer in every router.
func TestInvalidator_Entity(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		r1, r2 := f.resolver(), f.resolver()
		warm(t, f, "ivan", r1, r2)

		if err := f.crm.UpdateRecord("9002", func(r *connectortest.Record) { r.ResponsibleUserID = userDeal }); err != nil {
			t.Fatal(err)
		}
		n, err := f.invalidator().InvalidateChanges(context.Background(), f.tenant.ID, f.account.ID, "UA",
			[]connectors.Change{{Kind: connectors.KindLead, EntityID: "9002", ResponsibleUserID: userDeal}})
		if err != nil || n != 1 {
			t.Fatalf("InvalidateChanges = %d, %v", n, err)
		}
		invalidated(t, r1, r2)
		warm(t, f, "olena", r1, r2)
	})
}

// A change that names the caller's phone drops the caller's answer.
func TestInvalidator_Caller(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		r1, r2 := f.resolver(), f.resolver()
		warm(t, f, "ivan", r1, r2)

		if err := f.crm.UpdateRecord("9002", func(r *connectortest.Record) { r.Closed = true }); err != nil {
			t.Fatal(err)
		}
		// A contact event with the number written nationally: the caller is
		// found in the tenant's region.
		if _, err := f.invalidator().InvalidateChanges(context.Background(), f.tenant.ID, f.account.ID, "UA",
			[]connectors.Change{{Kind: connectors.KindContact, EntityID: "777", Phones: []string{"067 123-45-67"}}}); err != nil {
			t.Fatal(err)
		}
		invalidated(t, r1, r2)
		warm(t, f, "olena", r1, r2) // the lead is closed: the deal wins
	})
}

// Directory changes reload the snapshot in every router; the CRM is not
// asked again.
func TestInvalidator_Tenant(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		r1, r2 := f.resolver(), f.resolver()
		warm(t, f, "ivan", r1, r2)
		before := f.quietRequests()

		f.patch("ivan", `{"enabled": false}`)
		if err := f.invalidator().InvalidateTenant(context.Background(), f.tenant.ID); err != nil {
			t.Fatal(err)
		}
		invalidated(t, r1, r2)
		for i, r := range []*routing.Resolver{r1, r2} {
			d := r.Resolve(context.Background(), query(caller))
			if d.Outcome != telephony.OutcomeFallback || !strings.Contains(d.Reason, "switched off") || d.Cache != telephony.CacheLocal {
				t.Errorf("router %d: %+v; want the fallback, CRM answer from memory", i+1, d)
			}
		}
		if n := f.crmRequests() - before; n != 0 {
			t.Errorf("%d CRM requests after a directory change, want 0", n)
		}
	})
}

func TestInvalidator_Account(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		r1, r2 := f.resolver(), f.resolver()
		warm(t, f, "ivan", r1, r2)
		if err := f.invalidator().InvalidateAccount(context.Background(), f.account.ID); err != nil {
			t.Fatal(err)
		}
		invalidated(t, r1, r2)
		keys, err := f.redis.Keys(context.Background(), f.prefix+"a:*").Result()
		if err != nil || len(keys) != 0 {
			t.Errorf("Redis answers left: %v %v", keys, err)
		}
	})
}

// Losing the subscription drops the local caches once it is back:
// messages may have been missed meanwhile.
func TestResolver_Resubscribe(t *testing.T) {
	testenv.SkipUnless(t, testenv.RedisVar) // miniredis cannot kill a client
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		opts := *f.redis.Options()
		opts.ClientName = testenv.RandomName("routing-resubscribe-")
		rc := redis.NewClient(&opts)
		t.Cleanup(func() { rc.Close() })
		r := f.resolver(func(r *routing.Resolver) { r.Redis = rc })
		warm(t, f, "ivan", r)
		ctx := context.Background()
		list, err := f.redis.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		killed := 0
		for _, line := range strings.Split(list, "\n") {
			if strings.Contains(line, " name="+opts.ClientName+" ") && strings.Contains(line, " sub=1 ") {
				id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
				if err := f.redis.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err == nil {
					killed++
				}
			}
		}
		if killed == 0 {
			t.Fatal("found no subscriber to kill")
		}
		invalidated(t, r)
		warm(t, f, "ivan", r)
	})
}

// A new search order makes the cached answers (found under the old one)
// stale: the next call asks the CRM again.
func TestInvalidator_TenantOrder(t *testing.T) {
	eachCRM(t, func(t *testing.T, f *fixture) {
		f.addClient()
		r1, r2 := f.resolver(), f.resolver()
		warm(t, f, "ivan", r1, r2)
		f.setRouting(func(r *telephony.Routing) { r.Order = []string{"contact", "lead"} })
		if err := f.invalidator().InvalidateTenant(context.Background(), f.tenant.ID); err != nil {
			t.Fatal(err)
		}
		invalidated(t, r1, r2)
		warm(t, f, "petro", r1, r2)
	})
}
