package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/telephony"
)

func TestEmployees_Update(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		var ivan telephony.Employee
		e.a.do("POST", "/api/v1/employees", validEmployee()).decode(t, http.StatusCreated, &ivan)
		path := fmt.Sprint("/api/v1/employees/", ivan.ID)

		t.Run("PutRoundTrip", func(t *testing.T) {
			// What GET returns can be sent back unchanged.
			r := e.a.do("GET", path, nil)
			var got telephony.Employee
			e.a.do("PUT", path, string(r.Body)).decode(t, http.StatusOK, &got)
			want := ivan
			want.UpdatedAt = got.UpdatedAt
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
		t.Run("PutReplaces", func(t *testing.T) {
			var got telephony.Employee
			e.a.do("PUT", path, map[string]any{"full_name": "Ivan Petrov", "main_contacts": []string{"0509999999"}}).
				decode(t, http.StatusOK, &got)
			if got.FullName != "Ivan Petrov" || got.Email != ivan.Email || got.Login != ivan.Login || got.Extension != ivan.Extension ||
				got.Position != "" || got.Role != "user" || len(got.OtherContacts) != 0 || len(got.Schedule) != 0 ||
				!cmp.Equal(got.MainContacts, []string{"+380509999999"}) || got.SIPStatus != "offline" {
				t.Errorf("after PUT: %+v", got)
			}
			ivan = got
		})
		t.Run("PatchChangesOnlyGiven", func(t *testing.T) {
			var got telephony.Employee
			e.a.do("PATCH", path, `{"position":"Lead","sip_status":"online","schedule":[{"weekday":"fri","start":"10:00","end":"16:00"}]}`).
				decode(t, http.StatusOK, &got)
			want := ivan
			want.Position, want.SIPStatus, want.UpdatedAt = "Lead", "online", got.UpdatedAt
			want.Schedule = []telephony.Slot{{Weekday: time.Friday, Start: "10:00", End: "16:00"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			ivan = got
		})
		for _, method := range []string{"PUT", "PATCH"} {
			t.Run(method+"ErrEmailChanged", func(t *testing.T) {
				er := e.a.do(method, path, map[string]any{"email": "ivan@example.org", "full_name": "Ivan Petrov"}).apiErr(t, http.StatusBadRequest)
				if er.Error.Field != "email" || er.Error.Message != "cannot be changed; delete the employee and create a new one" {
					t.Errorf("error = %+v", er.Error)
				}
			})
		}
		t.Run("PatchSameEmailOtherCase", func(t *testing.T) {
			if r := e.a.do("PATCH", path, map[string]any{"email": strings.ToUpper(ivan.Email)}); r.Status != http.StatusOK {
				t.Errorf("status %d: %s", r.Status, r.Body)
			}
		})
		t.Run("ErrRejectedWritesNothing", func(t *testing.T) {
			before := e.a.do("GET", path, nil).Body
			rows := e.count()
			er := e.a.do("PATCH", path, map[string]any{"full_name": "New Name", "position": "New",
				"main_contacts": []string{"+380501111111", "x", "+380502222222"}}).apiErr(t, http.StatusBadRequest)
			if er.Error.Field != "main_contacts[1]" {
				t.Errorf("error = %+v", er.Error)
			}
			if after := e.a.do("GET", path, nil).Body; string(after) != string(before) {
				t.Errorf("employee changed:\n%s\n%s", before, after)
			}
			if diff := cmp.Diff(rows, e.count()); diff != "" {
				t.Errorf("rows (-before +after):\n%s", diff)
			}
		})
		t.Run("ErrSelfTarget", func(t *testing.T) {
			er := e.a.do("PATCH", path, map[string]any{"no_answer": map[string]any{"timeout_s": 10, "action": "employee", "target_id": ivan.ID}}).
				apiErr(t, http.StatusBadRequest)
			if er.Error.Field != "no_answer.target_id" || er.Error.Message != "cannot be the employee itself" {
				t.Errorf("error = %+v", er.Error)
			}
		})
		t.Run("PasswordNeverReturned", func(t *testing.T) {
			r := e.a.do("PATCH", path, map[string]any{"password": "a new password"})
			if r.Status != http.StatusOK || strings.Contains(string(r.Body), "password") || strings.Contains(string(r.Body), "$2a$") {
				t.Errorf("%d %s", r.Status, r.Body)
			}
			var hash string
			if err := e.db.SQL().Get(&hash, e.db.SQL().Rebind(`SELECT password_hash FROM employees WHERE id = ?`), ivan.ID); err != nil || !strings.HasPrefix(hash, "$2") {
				t.Errorf("hash %q, %v", hash, err)
			}
		})
		t.Run("ListByDepartment", func(t *testing.T) {
			dept := e.a.mustCreate("/api/v1/departments", map[string]any{"name": "Support"})
			e.a.do("PATCH", path, map[string]any{"department_id": dept["id"]}).decode(t, http.StatusOK, nil)
			e.a.mustCreate("/api/v1/employees", map[string]any{"email": "other@example.com", "full_name": "Other"})
			var list []telephony.Employee
			e.a.do("GET", "/api/v1/employees?department_id="+id(dept), nil).decode(t, http.StatusOK, &list)
			if len(list) != 1 || list[0].ID != ivan.ID {
				t.Errorf("members = %+v", list)
			}
			var got telephony.Employee
			e.a.do("PATCH", path, `{"department_id":null}`).decode(t, http.StatusOK, &got)
			if got.DepartmentID != nil {
				t.Errorf("department_id not cleared")
			}
		})
	})
}

func TestEmployees_Delete(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		var ivan, olga, anna telephony.Employee
		e.a.do("POST", "/api/v1/employees", map[string]any{"email": "ivan@example.com", "full_name": "Ivan Petrov"}).decode(t, 201, &ivan)
		e.a.do("POST", "/api/v1/employees", map[string]any{"email": "olga@example.com", "full_name": "Olga Shevchenko",
			"no_answer": map[string]any{"timeout_s": 15, "action": "employee", "target_id": ivan.ID}}).decode(t, 201, &olga)
		e.a.do("POST", "/api/v1/employees", map[string]any{"email": "anna@example.com", "full_name": "Anna Koval",
			"absences": []any{map[string]any{"kind": "vacation", "starts_at": "2099-01-01T00:00:00Z", "ends_at": "2099-02-01T00:00:00Z",
				"redirect": map[string]any{"kind": "employee", "id": ivan.ID}}}}).decode(t, 201, &anna)
		account := e.link(e.a.tenant.ID, ivan.ID, "hubspot", "Ivan P.")
		path := fmt.Sprint("/api/v1/employees/", ivan.ID)

		er := e.a.do("DELETE", path, nil).apiErr(t, http.StatusConflict)
		want := fmt.Sprintf("Ivan Petrov is linked to CRM user 'Ivan P.' (hubspot account %d), is the no-answer target of "+
			"Olga Shevchenko and is the absence redirect of Anna Koval; pass ?force=true to delete anyway", account)
		if er.Error.Code != "precondition" || er.Error.Message != want {
			t.Errorf("error = %+v\nwant message %s", er.Error, want)
		}
		if r := e.a.do("DELETE", path+"?force=maybe", nil); r.Status != http.StatusBadRequest {
			t.Errorf("?force=maybe: %d", r.Status)
		}
		if r := e.a.do("GET", path, nil); r.Status != http.StatusOK {
			t.Fatalf("refused delete deleted: %d", r.Status)
		}
		if r := e.a.do("DELETE", path+"?force=true", nil); r.Status != http.StatusNoContent || len(r.Body) != 0 {
			t.Fatalf("forced delete: %d %s", r.Status, r.Body)
		}
		if r := e.a.do("GET", path, nil); r.Status != http.StatusNotFound {
			t.Errorf("deleted employee: %d", r.Status)
		}
		var got telephony.Employee
		e.a.do("GET", fmt.Sprint("/api/v1/employees/", olga.ID), nil).decode(t, http.StatusOK, &got)
		if got.NoAnswer.Action != "drop" || got.NoAnswer.TargetID != nil {
			t.Errorf("Olga's no-answer rule still targets Ivan: %+v", got.NoAnswer)
		}
		e.a.do("GET", fmt.Sprint("/api/v1/employees/", anna.ID), nil).decode(t, http.StatusOK, &got)
		if got.Absences[0].Redirect != nil {
			t.Errorf("Anna's absence still redirects to Ivan")
		}
		var links int
		if err := e.db.SQL().Get(&links, `SELECT COUNT(*) FROM employee_links`); err != nil || links != 0 {
			t.Errorf("links left: %d, %v", links, err)
		}
		var audits int
		if err := e.db.SQL().Get(&audits, e.db.SQL().Rebind(`SELECT COUNT(*) FROM audit_log WHERE action = 'employee.delete' AND subject_id = ?`),
			fmt.Sprint(ivan.ID)); err != nil || audits != 1 {
			t.Errorf("audit entries: %d, %v", audits, err)
		}
		// A new Ivan with the same email, name, login and extension.
		var again telephony.Employee
		e.a.do("POST", "/api/v1/employees", map[string]any{"email": "ivan@example.com", "full_name": "Ivan Petrov"}).decode(t, 201, &again)
		if again.Login != ivan.Login || again.Extension != ivan.Extension {
			t.Errorf("new Ivan %+v", again)
		}
		// Nothing depends on Olga: no force needed.
		if r := e.a.do("DELETE", fmt.Sprint("/api/v1/employees/", olga.ID), nil); r.Status != http.StatusNoContent {
			t.Errorf("plain delete: %d %s", r.Status, r.Body)
		}
	})
}

// link links employeeID to a CRM user called name in a new account.
func (e *env) link(tenantID, employeeID int64, connector, name string) int64 {
	e.t.Helper()
	now := time.Now().UTC()
	db := e.db.SQL()
	var accountID, userID int64
	if err := db.Get(&accountID, db.Rebind(`INSERT INTO crm_accounts (tenant_id, connector, external_id, created_at, updated_at)
		VALUES (?, ?, '3', ?, ?) RETURNING id`), tenantID, connector, now, now); err != nil {
		e.t.Fatal(err)
	}
	if err := db.Get(&userID, db.Rebind(`INSERT INTO crm_users (tenant_id, account_id, external_id, name, updated_at)
		VALUES (?, ?, 'u1', ?, ?) RETURNING id`), tenantID, accountID, name, now); err != nil {
		e.t.Fatal(err)
	}
	if _, err := db.Exec(db.Rebind(`INSERT INTO employee_links (tenant_id, account_id, crm_user_id, employee_id, manual, rule,
		confidence, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'manual', 1, ?, ?)`),
		tenantID, accountID, userID, employeeID, true, now, now); err != nil {
		e.t.Fatal(err)
	}
	return accountID
}
