package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/web"
)

// fakeTenants knows two API keys: "key-a" (tenant 1) and "key-b" (tenant 2).
type fakeTenants struct{}

func (fakeTenants) TenantByAPIKey(_ context.Context, key string) (telephony.Tenant, error) {
	switch key {
	case "key-a":
		return telephony.Tenant{ID: 1, Name: "A"}, nil
	case "key-b":
		return telephony.Tenant{ID: 2, Name: "B"}, nil
	}
	return telephony.Tenant{}, telephony.Errorf(telephony.EUnauthorized, "", "invalid API key")
}

func (fakeTenants) Tenant(_ context.Context, id int64) (telephony.Tenant, error) {
	return telephony.Tenant{ID: id}, nil
}

func (fakeTenants) UpdateRouting(context.Context, int64, telephony.Routing) error { return nil }

// fakeAccounts is an in-memory web.Accounts: tenant 1 owns accounts 10
// (connected) and 11 (needs_relink), tenant 2 owns account 20.
type fakeAccounts struct {
	links  []web.Link
	report string
	// set records the last SetManualLink call; setErr is what it returns.
	set    string
	setErr error
	limit  int
}

var fakeOwner = map[int64]int64{10: 1, 11: 1, 20: 2}

func (f *fakeAccounts) own(tenantID, id int64) error {
	if fakeOwner[id] != tenantID {
		return telephony.Errorf(telephony.ENotFound, "", "CRM account %d not found", id)
	}
	return nil
}

func (f *fakeAccounts) Accounts(_ context.Context, tenantID int64) ([]web.Account, error) {
	var out []web.Account
	for _, id := range []int64{10, 11, 20} {
		if a, err := f.Account(context.Background(), tenantID, id); err == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

func (f *fakeAccounts) Account(_ context.Context, tenantID, id int64) (web.Account, error) {
	if err := f.own(tenantID, id); err != nil {
		return web.Account{}, err
	}
	status := "connected"
	if id == 11 {
		status = "needs_relink"
	}
	return web.Account{ID: id, Connector: "amocrm", Status: status, SyncIntervalS: 900,
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}, nil
}

func (f *fakeAccounts) SyncRuns(_ context.Context, tenantID, accountID int64, limit int) ([]web.SyncRun, error) {
	if err := f.own(tenantID, accountID); err != nil {
		return nil, err
	}
	f.limit = limit
	return []web.SyncRun{{ID: 2, AccountID: accountID, Status: "succeeded", Report: json.RawMessage(`{"fetched":3}`)}}, nil
}

func (f *fakeAccounts) LastSyncReport(_ context.Context, tenantID, accountID int64) (json.RawMessage, error) {
	if err := f.own(tenantID, accountID); err != nil {
		return nil, err
	}
	if f.report == "" {
		return nil, telephony.Errorf(telephony.ENotFound, "", "no finished sync")
	}
	return json.RawMessage(f.report), nil
}

func (f *fakeAccounts) AccountLinks(_ context.Context, tenantID, accountID int64) ([]web.Link, error) {
	if err := f.own(tenantID, accountID); err != nil {
		return nil, err
	}
	return append([]web.Link(nil), f.links...), nil
}

func (f *fakeAccounts) SetManualLink(_ context.Context, tenantID, accountID int64, crmUserID string, employeeID *int64) (web.Link, error) {
	if err := f.own(tenantID, accountID); err != nil {
		return web.Link{}, err
	}
	if f.setErr != nil {
		return web.Link{}, f.setErr
	}
	f.set = crmUserID + "→nil"
	if employeeID != nil {
		f.set = crmUserID + "→" + jsonOf(*employeeID)
	}
	return web.Link{CRMUserID: crmUserID, Active: true, Linked: true, Manual: true, Rule: "manual", EmployeeID: employeeID}, nil
}

func (f *fakeAccounts) ClearManualLink(_ context.Context, tenantID, accountID int64, crmUserID string) error {
	if err := f.own(tenantID, accountID); err != nil {
		return err
	}
	if crmUserID != "7" {
		return telephony.Errorf(telephony.ENotFound, "", "CRM user %q has no manual link", crmUserID)
	}
	return nil
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// fakeSyncer queues nothing and returns a fixed task id.
type fakeSyncer struct{ calls int }

func (s *fakeSyncer) EnqueueSync(_ context.Context, tenantID, accountID int64) (string, error) {
	s.calls++
	return "sync:users:" + jsonOf(accountID) + ":now:60", nil
}

// call sends one request with the API key and returns the status and body.
func call(t *testing.T, h http.Handler, key, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestServer_Accounts(t *testing.T) {
	f := &fakeAccounts{}
	syncer := &fakeSyncer{}
	h := (&web.Server{Tenants: fakeTenants{}, Accounts: f, Syncer: syncer}).Handler()

	t.Run("List", func(t *testing.T) {
		code, body := call(t, h, "key-a", "GET", "/api/v1/accounts", "")
		var got []web.Account
		if code != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got) != 2 || got[0].ID != 10 || got[1].Status != "needs_relink" {
			t.Fatalf("%d %s", code, body)
		}
		if !strings.Contains(body, `"last_sync_at":null`) || !strings.Contains(body, `"sync_interval_s":900`) {
			t.Errorf("body = %s", body)
		}
	})
	t.Run("ErrNotFoundForOtherTenant", func(t *testing.T) {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/api/v1/accounts/20", ""},
			{"POST", "/api/v1/accounts/20/sync", ""},
			{"GET", "/api/v1/accounts/20/sync-runs", ""},
			{"GET", "/api/v1/accounts/20/links", ""},
			{"PUT", "/api/v1/accounts/20/links", `{"crm_user_id":"1","employee_id":null}`},
			{"DELETE", "/api/v1/accounts/20/links/7", ""},
			{"GET", "/api/v1/accounts/abc", ""},
		} {
			if code, body := call(t, h, "key-a", r.method, r.path, r.body); code != 404 || !strings.Contains(body, `"not_found"`) {
				t.Errorf("%s %s: %d %s", r.method, r.path, code, body)
			}
		}
		if code, _ := call(t, h, "nope", "GET", "/api/v1/accounts", ""); code != 401 {
			t.Errorf("bad key: %d", code)
		}
	})
	t.Run("Sync", func(t *testing.T) {
		code, body := call(t, h, "key-a", "POST", "/api/v1/accounts/10/sync", "")
		if code != 202 || body != `{"status":"queued","task_id":"sync:users:10:now:60"}`+"\n" {
			t.Errorf("%d %s", code, body)
		}
		code, body = call(t, h, "key-a", "POST", "/api/v1/accounts/11/sync", "")
		if code != 409 || !strings.Contains(body, "needs_relink") || syncer.calls != 1 {
			t.Errorf("needs_relink account: %d %s (calls %d)", code, body, syncer.calls)
		}
		noSync := (&web.Server{Tenants: fakeTenants{}, Accounts: f}).Handler()
		if code, _ := call(t, noSync, "key-a", "POST", "/api/v1/accounts/10/sync", ""); code != 503 {
			t.Errorf("without a syncer: %d", code)
		}
	})
	t.Run("SyncRuns", func(t *testing.T) {
		code, body := call(t, h, "key-a", "GET", "/api/v1/accounts/10/sync-runs?limit=5", "")
		if code != 200 || f.limit != 5 || !strings.Contains(body, `"report":{"fetched":3}`) {
			t.Errorf("%d %s (limit %d)", code, body, f.limit)
		}
		call(t, h, "key-a", "GET", "/api/v1/accounts/10/sync-runs", "")
		if f.limit != 20 {
			t.Errorf("default limit = %d", f.limit)
		}
		for _, q := range []string{"0", "101", "x"} {
			if code, body := call(t, h, "key-a", "GET", "/api/v1/accounts/10/sync-runs?limit="+q, ""); code != 400 || !strings.Contains(body, `"field":"limit"`) {
				t.Errorf("limit=%s: %d %s", q, code, body)
			}
		}
	})
	t.Run("Links", func(t *testing.T) {
		id := int64(5)
		f.links = []web.Link{
			{CRMUserID: "1", Active: true, Linked: true, EmployeeID: &id, Rule: "email", Confidence: 1},
			{CRMUserID: "2", Active: true, Linked: true, Manual: true, Rule: "manual"},
			{CRMUserID: "3", Active: true},
			{CRMUserID: "4", Active: true},
			{CRMUserID: "5"},
			{CRMUserID: "6", Gone: true},
		}
		f.report = `{"ambiguous":[{"crm_user_id":"3","rule":"name","reason":"employees 8 and 9 both match name x"}]}`
		code, body := call(t, h, "key-a", "GET", "/api/v1/accounts/10/links", "")
		var got []struct{ CRMUserID, State, CRMStatus, Reason string }
		var raw []map[string]any
		if code != 200 || json.Unmarshal([]byte(body), &raw) != nil {
			t.Fatalf("%d %s", code, body)
		}
		for _, l := range raw {
			got = append(got, struct{ CRMUserID, State, CRMStatus, Reason string }{
				l["crm_user_id"].(string), l["state"].(string), l["crm_status"].(string), str(l["reason"])})
		}
		want := []struct{ CRMUserID, State, CRMStatus, Reason string }{
			{"1", "linked", "active", ""},
			{"2", "no_employee", "active", ""},
			{"3", "ambiguous", "active", "employees 8 and 9 both match name x"},
			{"4", "unmatched", "active", ""},
			{"5", "deactivated", "deactivated", ""},
			{"6", "deleted", "deleted", ""},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("links (-want +got):\n%s", diff)
		}
		if raw[0]["employee_id"] != float64(5) || raw[1]["employee_id"] != nil || raw[0]["rule"] != "email" {
			t.Errorf("link fields: %v, %v", raw[0], raw[1])
		}
		f.report = ""
		if code, _ := call(t, h, "key-a", "GET", "/api/v1/accounts/10/links", ""); code != 200 {
			t.Errorf("without any sync: %d", code)
		}
	})
	t.Run("PutLink", func(t *testing.T) {
		code, body := call(t, h, "key-a", "PUT", "/api/v1/accounts/10/links", `{"crm_user_id":"4","employee_id":12}`)
		if code != 200 || f.set != "4→12" || !strings.Contains(body, `"state":"linked"`) || !strings.Contains(body, `"manual":true`) {
			t.Errorf("%d %s (set %s)", code, body, f.set)
		}
		code, body = call(t, h, "key-a", "PUT", "/api/v1/accounts/10/links", `{"crm_user_id":"4","employee_id":null}`)
		if code != 200 || f.set != "4→nil" || !strings.Contains(body, `"state":"no_employee"`) {
			t.Errorf("null: %d %s (set %s)", code, body, f.set)
		}
		for _, tt := range []struct{ body, field string }{
			{`{"crm_user_id":"4"}`, "employee_id"},
			{`{"crm_user_id":"4","employee_id":"12"}`, "employee_id"},
			{`{"crm_user_id":"4","employee_id":-1}`, "employee_id"},
			{`{"employee_id":12}`, "crm_user_id"},
			{`{"crm_user_id":"4","employee_id":12,"x":1}`, "x"},
		} {
			if code, body := call(t, h, "key-a", "PUT", "/api/v1/accounts/10/links", tt.body); code != 400 || !strings.Contains(body, `"field":"`+tt.field+`"`) {
				t.Errorf("%s: %d %s", tt.body, code, body)
			}
		}
		f.setErr = telephony.Errorf(telephony.EConflict, "employee_id", "employee 12 (Ivan) is already linked by hand to CRM user 9 (Ivan P)")
		code, body = call(t, h, "key-a", "PUT", "/api/v1/accounts/10/links", `{"crm_user_id":"4","employee_id":12}`)
		if code != 409 || !strings.Contains(body, "CRM user 9 (Ivan P)") {
			t.Errorf("conflict: %d %s", code, body)
		}
		f.setErr = nil
	})
	t.Run("DeleteLink", func(t *testing.T) {
		if code, body := call(t, h, "key-a", "DELETE", "/api/v1/accounts/10/links/7", ""); code != 204 {
			t.Errorf("%d %s", code, body)
		}
		if code, _ := call(t, h, "key-a", "DELETE", "/api/v1/accounts/10/links/8", ""); code != 404 {
			t.Errorf("no manual link: %d", code)
		}
	})
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
