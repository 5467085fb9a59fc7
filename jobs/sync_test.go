package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	_ "github.com/crmsync/crmsync/connectors/all"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

// The handler is the one SyncStore implementation's consumer; check it fits.
var _ jobs.SyncStore = (*store.DB)(nil)

// conns is a Connections that hands out whatever connector is current.
type conns struct {
	mu   sync.Mutex
	conn connectors.Connector
}

func (c *conns) set(conn connectors.Connector) { c.mu.Lock(); c.conn = conn; c.mu.Unlock() }

func (c *conns) ConnectorFor(context.Context, int64) (connectors.Connector, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn, nil
}

// mustAccount creates a tenant (prefix, region UA) and links an amoCRM
// account to it at baseURL with token tok (nil: a dummy one).
func mustAccount(t *testing.T, db *store.DB, prefix, baseURL string, tok *oauth2.Token) (telephony.Tenant, store.Account) {
	t.Helper()
	return mustAccountOf(t, db, "amocrm", prefix, baseURL, tok)
}

// mustAccountOf is mustAccount for the CRM connector (a registry name).
func mustAccountOf(t *testing.T, db *store.DB, connector, prefix, baseURL string, tok *oauth2.Token) (telephony.Tenant, store.Account) {
	t.Helper()
	ctx := context.Background()
	tn, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Jobs " + prefix, Prefix: prefix, Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		t.Fatal(err)
	}
	if tok == nil {
		tok = &oauth2.Token{AccessToken: "at"}
	}
	acct, err := db.LinkAccount(ctx, tn.ID, store.LinkAccount{Connector: connector, Name: connector, ExternalID: connector + "-" + prefix,
		BaseURL: baseURL, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	return tn, acct
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func syncTask(t *testing.T, tn telephony.Tenant, acct store.Account) *asynq.Task {
	t.Helper()
	task, err := jobs.NewSyncUsersTask(jobs.SyncUsersPayload{TenantID: tn.ID, AccountID: acct.ID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// lastRun returns the newest sync run of the account and its report.
func lastRun(t *testing.T, db *store.DB, tn telephony.Tenant, acct store.Account) (store.SyncRun, jobs.SyncReport) {
	t.Helper()
	runs, err := db.SyncRuns(context.Background(), tn.ID, acct.ID, 1)
	if err != nil || len(runs) == 0 {
		t.Fatalf("sync runs: %v, %v", runs, err)
	}
	var rep jobs.SyncReport
	if err := json.Unmarshal(runs[0].Report, &rep); err != nil {
		t.Fatalf("report %s: %v", runs[0].Report, err)
	}
	return runs[0], rep
}

func TestHandler_ProcessSyncUsers(t *testing.T) {
	ctx := context.Background()
	db := storetest.MustOpen(t)
	tn, acct := mustAccount(t, db, "41001", "https://x.amocrm.ru", nil)
	if _, err := db.SQL().Exec(db.SQL().Rebind(`UPDATE crm_accounts SET provision = ? WHERE id = ?`), true, acct.ID); err != nil {
		t.Fatal(err)
	}
	emp := map[string]int64{}
	for short, in := range map[string]telephony.EmployeeInput{
		"ivan":   {FullName: "Ivan Petrov", Email: "ivan@acme.example"},
		"olena":  {FullName: "Олена Коваль", Email: "olena@acme.example", MainContacts: []string{"067 123 45 67"}},
		"sergei": {FullName: "Сергей Иванов", Email: "s.ivanov@acme.example"},
		"anna":   {FullName: "Anna Smith", Email: "anna@acme.example"},
	} {
		e, err := db.CreateEmployee(ctx, tn.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		emp[short] = e.ID
	}
	users := []connectors.User{
		{ID: "1", Name: "I. Petrov", Email: "Ivan@Acme.example", Active: true},
		{ID: "2", Name: "Olena K", Phones: []string{"+380 67 123 4567"}, Active: true},
		{ID: "3", Name: "Sergei Ivanov", Active: true},
		{ID: "4", Name: "Anna Smith", Active: true},
		{ID: "5", Name: "anna smith", Active: true},
		{ID: "6", Name: "Nobody Here", Email: "nobody@elsewhere.example", Active: true}, // provisioned
		{ID: "7", Name: "Ru User", Email: "ru@mail.ru", Active: true},                   // refused: .ru
		{ID: "8", Name: "Ivan Petrov", Email: "other@elsewhere.example", Active: true},  // refused: name taken
		{ID: "9", Name: "Gone Soon", Email: "gone@elsewhere.example", Active: false},
	}
	backend := connectortest.NewBackend()
	backend.AddUsers(users...)
	c := &conns{conn: connectortest.NewFake(backend)}
	metrics := jobs.NewMetrics(prometheus.NewRegistry())
	h := &jobs.Handler{Connections: c, Syncs: db, Metrics: metrics}

	if err := h.ProcessSyncUsers(ctx, syncTask(t, tn, acct)); err != nil {
		t.Fatal(err)
	}
	run, rep := lastRun(t, db, tn, acct)
	if run.Status != "succeeded" || run.FinishedAt == nil {
		t.Fatalf("run = %+v", run)
	}
	type summary struct {
		Fetched, Active, ManualKept, Unmatched, Provisioned int
		Matched                                             jobs.RuleCounts
		Ambiguous                                           []string
		Refused                                             []string
	}
	got := summary{Fetched: rep.Fetched, Active: rep.Active, ManualKept: rep.ManualKept, Unmatched: rep.Unmatched,
		Provisioned: rep.Provisioned, Matched: rep.Matched}
	for _, a := range rep.Ambiguous {
		got.Ambiguous = append(got.Ambiguous, a.CRMUserID+" "+a.Rule)
	}
	for _, e := range rep.ProvisionErrors {
		got.Refused = append(got.Refused, e.CRMUserID+" "+e.Field)
	}
	want := summary{Fetched: 9, Active: 8, Unmatched: 5, Provisioned: 1, Matched: jobs.RuleCounts{Email: 1, Phone: 1, Name: 1},
		Ambiguous: []string{"4 name", "5 name"}, Refused: []string{"7 email", "8 full_name"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s\n%+v", diff, rep)
	}
	if counterValue(metrics.SyncRuns.WithLabelValues("succeeded")) != 1 {
		t.Error("crmsync_sync_runs_total{outcome=succeeded} not counted")
	}
	links, _ := db.AccountLinks(ctx, tn.ID, acct.ID)
	for _, l := range links {
		if l.CRMUserID == "6" && (!l.Linked || l.Rule != "email" || l.EmployeeName != "Nobody Here") {
			t.Errorf("provisioned user 6 link = %+v", l)
		}
	}

	t.Run("DeactivatedOwnsRecords", func(t *testing.T) {
		next := connectortest.NewBackend()
		users[0].Active = false // ivan's CRM user leaves
		next.AddUsers(users...)
		next.AddRecords(
			connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindDeal, Title: "d1", ResponsibleUserID: "1"}},
			connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindDeal, Title: "d2", ResponsibleUserID: "1"}},
			connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact, Title: "c1", ResponsibleUserID: "1"}},
		)
		c.set(connectortest.NewFake(next))
		if err := h.ProcessSyncUsers(ctx, syncTask(t, tn, acct)); err != nil {
			t.Fatal(err)
		}
		_, rep := lastRun(t, db, tn, acct)
		wantUnlinked := []jobs.UnlinkedUser{{CRMUserID: "1", Name: "I. Petrov", EmployeeID: emp["ivan"], Reason: "deactivated in CRM"}}
		if diff := cmp.Diff(wantUnlinked, rep.Unlinked); diff != "" {
			t.Errorf("unlinked (-want +got):\n%s", diff)
		}
		wantOwned := []jobs.OwnedRecords{{CRMUserID: "1", Name: "I. Petrov", Reason: "deactivated in CRM",
			Records: map[connectors.EntityKind]int{"deal": 2, "contact": 1}, Total: 3}}
		if diff := cmp.Diff(wantOwned, rep.OwnedByInactive); diff != "" {
			t.Errorf("owned (-want +got):\n%s", diff)
		}
		// ivan is free again, so user 8 ("Ivan Petrov") now matches him by name.
		if rep.Matched != (jobs.RuleCounts{Email: 1, Phone: 1, Name: 2}) || rep.Provisioned != 0 || len(rep.ProvisionErrors) != 1 {
			t.Errorf("second run: matched %+v, provisioned %d, refused %v", rep.Matched, rep.Provisioned, rep.ProvisionErrors)
		}
	})

	t.Run("ErrBusy", func(t *testing.T) {
		run, _, err := db.StartSyncRun(ctx, tn.ID, acct.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		err = h.ProcessSyncUsers(ctx, syncTask(t, tn, acct))
		if !errors.Is(err, jobs.ErrBusy) || jobs.IsFailure(err) || jobs.RetryDelay(0, err, nil) != jobs.BusyDelay {
			t.Fatalf("err = %v, want ErrBusy, not a failure", err)
		}
		if err := db.FinishSyncRun(ctx, tn.ID, run, "failed", nil, "test"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("RateLimited", func(t *testing.T) {
		b := connectortest.NewBackend()
		b.AddUsers(users...)
		b.Inject(connectortest.Fault{Status: 429, RetryAfter: 7 * time.Second})
		c.set(connectortest.NewFake(b))
		err := h.ProcessSyncUsers(ctx, syncTask(t, tn, acct))
		if err == nil || jobs.IsFailure(err) || errors.Is(err, asynq.SkipRetry) || jobs.RetryDelay(0, err, nil) != 7*time.Second {
			t.Fatalf("err = %v, want a rate limit retried after 7s without counting", err)
		}
		if run, _ := lastRun(t, db, tn, acct); run.Status != "failed" {
			t.Errorf("run status = %s", run.Status)
		}
	})

	t.Run("ErrUnauthorizedMarksRelink", func(t *testing.T) {
		b := connectortest.NewBackend()
		b.Inject(connectortest.Fault{Status: 401})
		c.set(connectortest.NewFake(b))
		err := h.ProcessSyncUsers(ctx, syncTask(t, tn, acct))
		if !errors.Is(err, connectors.ErrUnauthorized) || !errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("err = %v, want ErrUnauthorized with SkipRetry", err)
		}
		a, _ := db.Account(ctx, tn.ID, acct.ID)
		if a.Status != connectors.StatusNeedsRelink || a.StatusReason == "" {
			t.Errorf("account = %s %q, want needs_relink with a reason", a.Status, a.StatusReason)
		}
	})

	t.Run("SkippedWhileNeedsRelink", func(t *testing.T) {
		b := connectortest.NewBackend()
		c.set(connectortest.NewFake(b))
		if err := h.ProcessSyncUsers(ctx, syncTask(t, tn, acct)); err != nil {
			t.Fatal(err)
		}
		run, rep := lastRun(t, db, tn, acct)
		if run.Status != "skipped" || rep.Skipped == "" || b.Requests("") != 0 {
			t.Errorf("run %s %q, %d CRM requests", run.Status, rep.Skipped, b.Requests(""))
		}
		if counterValue(metrics.SyncRuns.WithLabelValues("skipped")) != 1 {
			t.Error("skipped run not counted")
		}
	})

	t.Run("ErrBadPayload", func(t *testing.T) {
		for _, payload := range []string{`{`, `{"tenant_id":1}`} {
			err := h.ProcessSyncUsers(ctx, asynq.NewTask(jobs.TypeSyncUsers, []byte(payload)))
			if !errors.Is(err, asynq.SkipRetry) {
				t.Errorf("payload %s: err = %v, want SkipRetry", payload, err)
			}
		}
		err := h.ProcessSyncUsers(ctx, asynq.NewTask(jobs.TypeSyncUsers, []byte(fmt.Sprintf(`{"tenant_id":%d,"account_id":987654}`, tn.ID))))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("unknown account: err = %v, want SkipRetry", err)
		}
	})
}
