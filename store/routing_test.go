package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

func TestDB_RoutingAccountsAndLinks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newSyncFixture(t, db, "31000")
		other := newSyncFixture(t, db, "32000") // another tenant's data stays out
		second, err := db.LinkAccount(ctx, f.tenant.ID, store.LinkAccount{Connector: "hubspot", ExternalID: "hub-1",
			Token: &oauth2.Token{AccessToken: "at"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.MarkNeedsRelink(ctx, second.ID, "revoked"); err != nil {
			t.Fatal(err)
		}
		accts, err := db.RoutingAccounts(ctx, f.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []connectors.Account{
			{ID: f.account.ID, Connector: "amocrm", BaseURL: "https://x.amocrm.ru", Status: connectors.StatusConnected},
			{ID: second.ID, Connector: "hubspot", Status: connectors.StatusNeedsRelink},
		}
		if diff := cmp.Diff(want, accts); diff != "" {
			t.Errorf("RoutingAccounts (-want +got):\n%s", diff)
		}

		for _, fx := range []*syncFixture{f, other} {
			if _, err := db.ApplyUserSync(ctx, fx.tenant.ID, fx.account.ID, syncUsers()); err != nil {
				t.Fatal(err)
			}
		}
		// An admin's "no employee" is a link to employee 0.
		if _, err := db.SetManualLink(ctx, f.tenant.ID, f.account.ID, "6", nil); err != nil {
			t.Fatal(err)
		}
		links, err := db.RoutingLinks(ctx, f.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for acct, ls := range links {
			if acct != f.account.ID {
				t.Errorf("links of account %d, want only %d", acct, f.account.ID)
			}
			for _, l := range ls {
				got[l.CRMUserID] = l.EmployeeID
			}
		}
		wantLinks := map[string]int64{"1": f.emp["ivan"], "2": f.emp["olena"], "3": f.emp["sergei"], "6": 0}
		if diff := cmp.Diff(wantLinks, got); diff != "" {
			t.Errorf("RoutingLinks (-want +got):\n%s", diff)
		}
		if l := links[f.account.ID][0]; l.Rule != mapping.RuleEmail || l.CRMUserID != "1" {
			t.Errorf("first link %+v, want user 1 by email", l)
		}

		// A deleted employee's link is gone from routing.
		if err := db.DeleteEmployee(ctx, f.tenant.ID, f.emp["sergei"], true); err != nil {
			t.Fatal(err)
		}
		links, _ = db.RoutingLinks(ctx, f.tenant.ID)
		for _, l := range links[f.account.ID] {
			if l.CRMUserID == "3" {
				t.Errorf("link to a deleted employee: %+v", l)
			}
		}

		tenantID, acct, err := db.HookAccount(ctx, second.ID)
		if err != nil || tenantID != f.tenant.ID || acct.Connector != "hubspot" {
			t.Errorf("HookAccount = %d, %+v, %v", tenantID, acct, err)
		}
		if _, _, err := db.HookAccount(ctx, 999999); telephony.ErrorCode(err) != telephony.ENotFound {
			t.Errorf("HookAccount(unknown): %v, want ENotFound", err)
		}
	})
}

func TestDB_RecordDecisions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := MustTenant(t, db, "A"), MustTenant(t, db, "B")
		routed := telephony.Decision{Outcome: telephony.OutcomeRouted, Contacts: []string{"sip:ivan@pbx"},
			Reason: "responsible manager Ivan is available", TenantID: a.ID, Caller: "+380671234567", DID: "+380441234567",
			EntityKind: "lead", EntityID: "9002", CRMUserID: "101", Cache: telephony.CacheMiss, Latency: 1234 * time.Microsecond}
		fallback := telephony.Decision{Outcome: telephony.OutcomeFallback, Reason: "no open lead", TenantID: b.ID,
			Caller: "+380671234567", DID: "+380449999999", Cache: telephony.CacheLocal}
		err := db.RecordDecisions(ctx, []telephony.CallDecision{
			{CallID: "call-a", Decision: routed}, {CallID: "call-b", Decision: fallback},
			{CallID: "no-tenant", Decision: telephony.Decision{Outcome: telephony.OutcomeFallback, Reason: "unknown DID"}},
			{CallID: "", Decision: routed}, // no call id: not kept
		})
		if err != nil {
			t.Fatal(err)
		}
		// A retransmitted INVITE answered again is not recorded twice: the
		// first decision stays.
		again := routed
		again.Reason, again.Cache = "second answer", telephony.CacheLocal
		if err := db.RecordDecision(ctx, again, "call-a"); err != nil {
			t.Fatal(err)
		}
		// The same call id in another tenant is another call.
		if err := db.RecordDecision(ctx, fallback, "call-a"); err != nil {
			t.Fatal(err)
		}

		got, at, err := db.DecisionByCallID(ctx, a.ID, "call-a")
		if err != nil {
			t.Fatal(err)
		}
		want := routed
		want.Contacts = nil // not kept
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DecisionByCallID (-want +got):\n%s", diff)
		}
		if at.IsZero() || at.Location() != time.UTC {
			t.Errorf("recorded at %v, want a UTC time", at)
		}
		if got, _, err := db.DecisionByCallID(ctx, b.ID, "call-a"); err != nil || got.Outcome != telephony.OutcomeFallback {
			t.Errorf("tenant B's call-a: %+v, %v", got, err)
		}
		if _, _, err := db.DecisionByCallID(ctx, a.ID, "call-b"); telephony.ErrorCode(err) != telephony.ENotFound {
			t.Errorf("another tenant's call: %v, want ENotFound", err)
		}
		var n int
		if err := db.SQL().Get(&n, `SELECT COUNT(*) FROM route_decisions`); err != nil || n != 3 {
			t.Errorf("%d rows, %v; want 3", n, err)
		}
	})
}

func TestDB_RecordDecisions_Batch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tn := MustTenant(t, db, "Busy")
		var batch []telephony.CallDecision
		for i := range 1200 { // more than one INSERT's worth
			batch = append(batch, telephony.CallDecision{CallID: string(rune('a'+i%26)) + time.Duration(i).String(),
				Decision: telephony.Decision{Outcome: telephony.OutcomeFallback, Reason: "r", TenantID: tn.ID,
					Cache: telephony.CacheLocal}})
		}
		if err := db.RecordDecisions(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordDecisions(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.SQL().Get(&n, `SELECT COUNT(*) FROM route_decisions`); err != nil || n != 1200 {
			t.Errorf("%d rows, %v; want 1200", n, err)
		}

		// A batch holding one call recorded before (a retransmitted INVITE
		// answered in a later batch): the new calls go in, the old call
		// keeps its first decision. On PostgreSQL this is the path where
		// COPY fails on the unique index and INSERT … ON CONFLICT takes over.
		mixed := []telephony.CallDecision{{CallID: "a0s", Decision: telephony.Decision{Outcome: telephony.OutcomeRouted,
			Reason: "second answer", TenantID: tn.ID, Cache: telephony.CacheLocal}}}
		for i := range 10 {
			mixed = append(mixed, telephony.CallDecision{CallID: fmt.Sprintf("new-%d", i), Decision: telephony.Decision{
				Outcome: telephony.OutcomeFallback, Reason: "r", TenantID: tn.ID, Cache: telephony.CacheLocal}})
		}
		if err := db.RecordDecisions(context.Background(), mixed); err != nil {
			t.Fatal(err)
		}
		if err := db.SQL().Get(&n, `SELECT COUNT(*) FROM route_decisions`); err != nil || n != 1210 {
			t.Errorf("%d rows, %v; want 1210", n, err)
		}
		if got, _, err := db.DecisionByCallID(context.Background(), tn.ID, "a0s"); err != nil || got.Reason != "r" {
			t.Errorf("call a0s: reason %q, %v; want the first decision's %q", got.Reason, err, "r")
		}
	})
}
