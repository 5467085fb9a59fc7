package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

// syncFixture is a tenant (region UA) with a linked amoCRM account and a
// few employees.
type syncFixture struct {
	db      *store.DB
	tenant  telephony.Tenant
	account store.Account
	emp     map[string]int64 // by short name
}

func newSyncFixture(t *testing.T, db *store.DB, prefix string) *syncFixture {
	t.Helper()
	ctx := context.Background()
	tn, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Sync " + prefix, Prefix: prefix, Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := db.LinkAccount(ctx, tn.ID, store.LinkAccount{Connector: "amocrm", Name: "amo", ExternalID: "amo-" + prefix,
		BaseURL: "https://x.amocrm.ru", Token: &oauth2.Token{AccessToken: "at"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &syncFixture{db: db, tenant: tn, account: acct, emp: map[string]int64{}}
	for short, in := range map[string]telephony.EmployeeInput{
		"ivan":   {FullName: "Ivan Petrov", Email: "ivan@acme.example"},
		"olena":  {FullName: "Олена Коваль", Email: "olena@acme.example", MainContacts: []string{"067 123 45 67"}},
		"sergei": {FullName: "Сергей Иванов", Email: "s.ivanov@acme.example"},
		"anna":   {FullName: "Anna Smith", Email: "anna@acme.example"},
		"oleg":   {FullName: "Oleg Bondar", Email: "oleg@acme.example", Mobile: "+380501112233"},
	} {
		e, err := db.CreateEmployee(ctx, tn.ID, in)
		if err != nil {
			t.Fatalf("create %s: %v", short, err)
		}
		f.emp[short] = e.ID
	}
	return f
}

// users is the CRM's first listing: one user per rule, an ambiguous pair,
// an unmatched user and an inactive one.
func syncUsers() []mapping.CRMUser {
	return []mapping.CRMUser{
		{ID: "1", Name: "I. Petrov", Email: " IVAN@acme.example ", Active: true},        // email → ivan
		{ID: "2", Name: "Olena K", Phones: []string{"+380 67 123 4567"}, Active: true},  // phone → olena
		{ID: "3", Name: "Sergei Ivanov", Active: true},                                  // name → sergei
		{ID: "4", Name: "anna  smith", Active: true},                                    // name, ambiguous with 5
		{ID: "5", Name: "ANNA SMITH", Active: true},                                     // name, ambiguous with 4
		{ID: "6", Name: "Nobody Here", Email: "nobody@elsewhere.example", Active: true}, // unmatched
		{ID: "7", Name: "Oleg Bondar", Email: "oleg@acme.example", Active: false},       // inactive: never linked
	}
}

// links returns the account's links as user → "employee/rule" ("-" for no
// employee).
func (f *syncFixture) links(t *testing.T) map[string]string {
	t.Helper()
	ls, err := f.db.AccountLinks(context.Background(), f.tenant.ID, f.account.ID)
	if err != nil {
		t.Fatal(err)
	}
	names := map[int64]string{}
	for k, v := range f.emp {
		names[v] = k
	}
	out := map[string]string{}
	for _, l := range ls {
		switch {
		case !l.Linked:
		case l.EmployeeID == nil:
			out[l.CRMUserID] = "-/" + l.Rule
		default:
			out[l.CRMUserID] = names[*l.EmployeeID] + "/" + l.Rule
		}
	}
	return out
}

func auditCount(t *testing.T, db *store.DB, action string) int {
	t.Helper()
	var n int
	if err := db.SQL().Get(&n, db.SQL().Rebind(`SELECT COUNT(*) FROM audit_log WHERE action = ?`), action); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantCode(t *testing.T, err error, code telephony.Code, field string) {
	t.Helper()
	var e *telephony.Error
	if !errors.As(err, &e) || e.Code != code || e.Field != field {
		t.Fatalf("err = %v, want %s on %q", err, code, field)
	}
}

func TestDB_ApplyUserSync(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newSyncFixture(t, db, "31001")

		res, err := db.ApplyUserSync(ctx, f.tenant.ID, f.account.ID, syncUsers())
		if err != nil {
			t.Fatal(err)
		}
		wantCounts := map[string]int{"manual": 0, "email": 1, "phone": 1, "name": 1}
		if diff := cmp.Diff(wantCounts, res.Counts); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"4", "5", "6"}, res.Unmatched); diff != "" {
			t.Errorf("unmatched (-want +got):\n%s", diff)
		}
		if len(res.Ambiguous) != 2 || res.Ambiguous[0].Rule != "name" || res.Ambiguous[0].EmployeeIDs[0] != f.emp["anna"] {
			t.Errorf("ambiguous = %+v", res.Ambiguous)
		}
		want := map[string]string{"1": "ivan/email", "2": "olena/phone", "3": "sergei/name"}
		if diff := cmp.Diff(want, f.links(t)); diff != "" {
			t.Errorf("links (-want +got):\n%s", diff)
		}

		t.Run("Idempotent", func(t *testing.T) {
			var before int
			db.SQL().Get(&before, `SELECT COALESCE(MAX(id), 0) FROM employee_links`)
			res2, err := db.ApplyUserSync(ctx, f.tenant.ID, f.account.ID, syncUsers())
			if err != nil {
				t.Fatal(err)
			}
			var after int
			db.SQL().Get(&after, `SELECT COALESCE(MAX(id), 0) FROM employee_links`)
			if before != after || len(res2.Unlinked) != 0 || auditCount(t, db, "crm_user.unlinked") != 0 {
				t.Errorf("second identical sync changed links: max id %d → %d, unlinked %v", before, after, res2.Unlinked)
			}
		})

		t.Run("ManualLinksSurvive", func(t *testing.T) {
			// 6 gets oleg by hand; 3 is told "no employee", replacing its auto link.
			if _, err := db.SetManualLink(ctx, f.tenant.ID, f.account.ID, "6", &[]int64{f.emp["oleg"]}[0]); err != nil {
				t.Fatal(err)
			}
			l, err := db.SetManualLink(ctx, f.tenant.ID, f.account.ID, "3", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !l.Linked || !l.Manual || l.EmployeeID != nil || l.Rule != "manual" {
				t.Fatalf("no-employee link = %+v", l)
			}
			res, err := db.ApplyUserSync(ctx, f.tenant.ID, f.account.ID, syncUsers())
			if err != nil {
				t.Fatal(err)
			}
			if res.Counts["manual"] != 2 {
				t.Errorf("manual kept = %d, want 2", res.Counts["manual"])
			}
			want := map[string]string{"1": "ivan/email", "2": "olena/phone", "3": "-/manual", "6": "oleg/manual"}
			if diff := cmp.Diff(want, f.links(t)); diff != "" {
				t.Errorf("links (-want +got):\n%s", diff)
			}
		})

		t.Run("DeactivatedAndGoneUnlink", func(t *testing.T) {
			users := syncUsers()
			users[0].Active = false // 1 deactivated
			users = append(users[:1], users[2:]...)
			res, err := db.ApplyUserSync(ctx, f.tenant.ID, f.account.ID, users) // 2 gone
			if err != nil {
				t.Fatal(err)
			}
			wantUnlinked := []mapping.Unlink{
				{CRMUserID: "1", EmployeeID: f.emp["ivan"], Reason: mapping.ReasonDeactivated},
				{CRMUserID: "2", EmployeeID: f.emp["olena"], Reason: mapping.ReasonDeleted},
			}
			if diff := cmp.Diff(wantUnlinked, res.Unlinked); diff != "" {
				t.Errorf("unlinked (-want +got):\n%s", diff)
			}
			want := map[string]string{"3": "-/manual", "6": "oleg/manual"}
			if diff := cmp.Diff(want, f.links(t)); diff != "" {
				t.Errorf("links (-want +got):\n%s", diff)
			}
			if n := auditCount(t, db, "crm_user.unlinked"); n != 2 {
				t.Errorf("unlink audit entries = %d, want 2", n)
			}
			var detail string
			db.SQL().Get(&detail, db.SQL().Rebind(`SELECT detail FROM audit_log WHERE action = ? ORDER BY id LIMIT 1`), "crm_user.unlinked")
			if !strings.Contains(detail, mapping.ReasonDeactivated) {
				t.Errorf("audit detail = %s", detail)
			}
			ls, _ := db.AccountLinks(ctx, f.tenant.ID, f.account.ID)
			for _, l := range ls {
				if l.CRMUserID == "2" && !l.Gone || l.CRMUserID == "1" && l.Active {
					t.Errorf("user %s: gone %v active %v", l.CRMUserID, l.Gone, l.Active)
				}
			}
			// 2 comes back: no longer gone, linked again by phone.
			if _, err := db.ApplyUserSync(ctx, f.tenant.ID, f.account.ID, syncUsers()); err != nil {
				t.Fatal(err)
			}
			if got := f.links(t)["2"]; got != "olena/phone" {
				t.Errorf("returning user 2 link = %q", got)
			}
		})

		t.Run("TenantIsolation", func(t *testing.T) {
			other := newSyncFixture(t, db, "31002")
			_, err := db.ApplyUserSync(ctx, other.tenant.ID, f.account.ID, syncUsers())
			wantCode(t, err, telephony.ENotFound, "")
			_, err = db.AccountLinks(ctx, other.tenant.ID, f.account.ID)
			wantCode(t, err, telephony.ENotFound, "")
			_, err = db.SyncRuns(ctx, other.tenant.ID, f.account.ID, 10)
			wantCode(t, err, telephony.ENotFound, "")
			_, err = db.SetManualLink(ctx, other.tenant.ID, f.account.ID, "1", nil)
			wantCode(t, err, telephony.ENotFound, "")
			err = db.ClearManualLink(ctx, other.tenant.ID, f.account.ID, "3")
			wantCode(t, err, telephony.ENotFound, "")
			// Another tenant's employee is not a valid target.
			_, err = db.SetManualLink(ctx, f.tenant.ID, f.account.ID, "4", &[]int64{other.emp["anna"]}[0])
			wantCode(t, err, telephony.EInvalid, "employee_id")
		})
	})
}

func TestDB_SetManualLink(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newSyncFixture(t, db, "31003")
		if _, err := db.ApplyUserSync(ctx, f.tenant.ID, f.account.ID, syncUsers()); err != nil {
			t.Fatal(err)
		}
		id := func(short string) *int64 { v := f.emp[short]; return &v }

		t.Run("ErrUnknownUser", func(t *testing.T) {
			_, err := db.SetManualLink(ctx, f.tenant.ID, f.account.ID, "999", id("anna"))
			wantCode(t, err, telephony.EInvalid, "crm_user_id")
		})
		t.Run("ErrUnknownEmployee", func(t *testing.T) {
			_, err := db.SetManualLink(ctx, f.tenant.ID, f.account.ID, "4", &[]int64{987654}[0])
			wantCode(t, err, telephony.EInvalid, "employee_id")
		})
		t.Run("AutoLinkGivesWay", func(t *testing.T) {
			// ivan is auto-linked to 1; an admin gives ivan to 4.
			l, err := db.SetManualLink(ctx, f.tenant.ID, f.account.ID, "4", id("ivan"))
			if err != nil {
				t.Fatal(err)
			}
			if !l.Manual || *l.EmployeeID != f.emp["ivan"] || l.EmployeeName != "Ivan Petrov" {
				t.Fatalf("link = %+v", l)
			}
			if got := f.links(t); got["1"] != "" || got["4"] != "ivan/manual" {
				t.Fatalf("links = %v", got)
			}
		})
		t.Run("ErrConflictWithManual", func(t *testing.T) {
			_, err := db.SetManualLink(ctx, f.tenant.ID, f.account.ID, "5", id("ivan"))
			wantCode(t, err, telephony.EConflict, "employee_id")
			if !strings.Contains(err.Error(), "CRM user 4 (anna  smith)") {
				t.Errorf("conflict does not name the other user: %v", err)
			}
		})
		t.Run("Clear", func(t *testing.T) {
			if err := db.ClearManualLink(ctx, f.tenant.ID, f.account.ID, "4"); err != nil {
				t.Fatal(err)
			}
			wantCode(t, db.ClearManualLink(ctx, f.tenant.ID, f.account.ID, "4"), telephony.ENotFound, "")
			wantCode(t, db.ClearManualLink(ctx, f.tenant.ID, f.account.ID, "nope"), telephony.ENotFound, "")
			// The next sync matches 1 to ivan by email again.
			if _, err := db.ApplyUserSync(ctx, f.tenant.ID, f.account.ID, syncUsers()); err != nil {
				t.Fatal(err)
			}
			if got := f.links(t)["1"]; got != "ivan/email" {
				t.Errorf("link of 1 after clearing = %q", got)
			}
		})
		if n := auditCount(t, db, "crm_user.link_set"); n != 1 {
			t.Errorf("link_set audit entries = %d, want 1", n)
		}
	})
}

func TestDB_SyncRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newSyncFixture(t, db, "31004")
		other := newSyncFixture(t, db, "31005")

		run, provision, err := db.StartSyncRun(ctx, f.tenant.ID, f.account.ID, time.Hour)
		if err != nil || provision {
			t.Fatalf("start = %d %v %v", run, provision, err)
		}
		_, _, err = db.StartSyncRun(ctx, f.tenant.ID, f.account.ID, time.Hour)
		wantCode(t, err, telephony.EConflict, "")
		_, _, err = db.StartSyncRun(ctx, other.tenant.ID, f.account.ID, time.Hour)
		wantCode(t, err, telephony.ENotFound, "")

		// A run older than staleAfter is abandoned and a new one starts.
		run2, _, err := db.StartSyncRun(ctx, f.tenant.ID, f.account.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, db.FinishSyncRun(ctx, f.tenant.ID, run, "succeeded", nil, ""), telephony.ENotFound, "")
		wantCode(t, db.FinishSyncRun(ctx, other.tenant.ID, run2, "succeeded", nil, ""), telephony.ENotFound, "")
		report := json.RawMessage(`{"fetched":7}`)
		if err := db.FinishSyncRun(ctx, f.tenant.ID, run2, "succeeded", report, ""); err != nil {
			t.Fatal(err)
		}
		if err := db.SkipSyncRun(ctx, f.tenant.ID, f.account.ID, json.RawMessage(`{"skipped":"account is needs_relink"}`)); err != nil {
			t.Fatal(err)
		}
		wantCode(t, db.SkipSyncRun(ctx, other.tenant.ID, f.account.ID, nil), telephony.ENotFound, "")

		runs, err := db.SyncRuns(ctx, f.tenant.ID, f.account.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range runs {
			got = append(got, fmt.Sprintf("%s %q", r.Status, r.Error))
			if r.FinishedAt == nil || r.StartedAt.IsZero() {
				t.Errorf("run %d times: %v %v", r.ID, r.StartedAt, r.FinishedAt)
			}
		}
		want := []string{`skipped ""`, `succeeded ""`, `failed "abandoned: its worker stopped before finishing"`}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("runs, newest first (-want +got):\n%s", diff)
		}
		if string(runs[1].Report) != string(report) {
			t.Errorf("report = %s", runs[1].Report)
		}
		if runs, _ := db.SyncRuns(ctx, f.tenant.ID, f.account.ID, 1); len(runs) != 1 {
			t.Errorf("limit 1 gave %d runs", len(runs))
		}
		if last, err := db.LastSyncReport(ctx, f.tenant.ID, f.account.ID); err != nil || string(last) != string(report) {
			t.Errorf("last report = %s, %v", last, err)
		}
		_, err = db.LastSyncReport(ctx, other.tenant.ID, other.account.ID)
		wantCode(t, err, telephony.ENotFound, "")
		acct, _ := db.Account(ctx, f.tenant.ID, f.account.ID)
		if acct.LastSyncAt == nil {
			t.Error("last_sync_at not set by a succeeded run")
		}
		accts, err := db.SyncableAccounts(ctx)
		if err != nil || len(accts) != 2 {
			t.Errorf("syncable accounts = %d, %v", len(accts), err)
		}
	})
}

// TestDB_ApplyUserSync_Bulk syncs more users than one multi-row statement
// holds, then changes some, and checks every user and link landed.
func TestDB_ApplyUserSync_Bulk(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newSyncFixture(t, db, "31006")
		users := make([]mapping.CRMUser, 2500)
		for i := range users {
			users[i] = mapping.CRMUser{ID: fmt.Sprint(1000 + i), Name: fmt.Sprintf("Bulk User %d", i), Active: true,
				Email: fmt.Sprintf("bulk%d@other.example", i), Phones: []string{fmt.Sprintf("+38044%07d", i)}}
		}
		users[2000].Email = "anna@acme.example"
		if _, err := db.ApplyUserSync(ctx, f.tenant.ID, f.account.ID, users); err != nil {
			t.Fatal(err)
		}
		users[0].Name = "Renamed"
		res, err := db.ApplyUserSync(ctx, f.tenant.ID, f.account.ID, users[:2400])
		if err != nil {
			t.Fatal(err)
		}
		if res.Counts["email"] != 1 || len(res.Unmatched) != 2399 {
			t.Errorf("counts %v, unmatched %d", res.Counts, len(res.Unmatched))
		}
		ls, err := db.AccountLinks(ctx, f.tenant.ID, f.account.ID)
		if err != nil || len(ls) != 2500 {
			t.Fatalf("links = %d, %v", len(ls), err)
		}
		gone := 0
		for _, l := range ls {
			if l.Gone {
				gone++
			}
		}
		if gone != 100 || ls[0].Name != "Renamed" || !ls[2000].Linked {
			t.Errorf("gone %d, first %q, 2000 linked %v", gone, ls[0].Name, ls[2000].Linked)
		}
	})
}
