package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

func TestDB_UpdateEmployee(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tn := mustTenant(t, db, "19079")
		in := person("Ivan Petrov", "ivan@example.com")
		in.MainContacts = []string{"+380501234567"}
		in.SIPStatus = "online"
		e := mustEmployee(t, db, tn.ID, in)

		t.Run("OK", func(t *testing.T) {
			put := person("Ivan  Petrov-Vodkin", "")
			put.OtherContacts = []string{"sip:ivan@pbx.example.com"}
			put.Extension = "555"
			put.Enabled = ptr(false)
			got, err := db.UpdateEmployee(ctx, tn.ID, e.ID, put)
			if err != nil {
				t.Fatal(err)
			}
			if got.FullName != "Ivan  Petrov-Vodkin" || got.Email != "ivan@example.com" || got.Login != "19079_ivan" ||
				got.Extension != "555" || got.Enabled || got.SIPStatus != "online" || len(got.MainContacts) != 0 ||
				!cmp.Equal(got.OtherContacts, []string{"sip:ivan@pbx.example.com"}) {
				t.Errorf("employee = %+v", got)
			}
			// The old extension is free again.
			if d, err := db.CreateDepartment(ctx, tn.ID, telephony.DepartmentInput{Name: "Sales"}); err != nil || d.Extension != "100" {
				t.Errorf("department = %+v, %v; want extension 100", d, err)
			}
		})
		t.Run("ErrEmailChanged", func(t *testing.T) {
			_, err := db.UpdateEmployee(ctx, tn.ID, e.ID, person("Ivan Petrov", "ivan@example.org"))
			wantInvalid(t, err, "email", "cannot be changed; delete the employee and create a new one")
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := db.UpdateEmployee(ctx, tn.ID, e.ID+1000, person("X", ""))
			wantErr(t, err, telephony.ENotFound, "", "not found")
		})
		t.Run("Patch", func(t *testing.T) {
			var p telephony.EmployeePatch
			if err := json.Unmarshal([]byte(`{"position":"Head","no_answer":{"timeout_s":15,"action":"voicemail"}}`), &p); err != nil {
				t.Fatal(err)
			}
			before, _ := db.Employee(ctx, tn.ID, e.ID)
			got, err := db.PatchEmployee(ctx, tn.ID, e.ID, p)
			if err != nil {
				t.Fatal(err)
			}
			want := before
			want.Position, want.NoAnswer = "Head", telephony.NoAnswer{TimeoutS: 15, Action: "voicemail"}
			want.UpdatedAt = got.UpdatedAt
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
		t.Run("PatchErrSelfTarget", func(t *testing.T) {
			p := telephony.EmployeePatch{"no_answer": json.RawMessage(`{"timeout_s":15,"action":"employee","target_id":` + jsonID(e.ID) + `}`)}
			_, err := db.PatchEmployee(ctx, tn.ID, e.ID, p)
			wantInvalid(t, err, "no_answer.target_id", "cannot be the employee itself")
		})
	})
}

func jsonID(id int64) string { b, _ := json.Marshal(id); return string(b) }

func TestDB_DeleteEmployee(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tn := mustTenant(t, db, "19079")
		ivan := mustEmployee(t, db, tn.ID, telephony.EmployeeInput{
			FullName: "Ivan Petrov", Email: "ivan@example.com", MainContacts: []string{"+380501234567"}})
		olgaIn := person("Olga Shevchenko", "olga@example.com")
		olgaIn.NoAnswer = &telephony.NoAnswer{TimeoutS: 20, Action: "employee", TargetID: &ivan.ID}
		olga := mustEmployee(t, db, tn.ID, olgaIn)
		account := mustLink(t, db, tn.ID, ivan.ID, "hubspot", "Ivan P.")

		t.Run("ErrPrecondition", func(t *testing.T) {
			err := db.DeleteEmployee(ctx, tn.ID, ivan.ID, false)
			wantErr(t, err, telephony.EPrecondition, "",
				"Ivan Petrov is linked to CRM user 'Ivan P.' (hubspot account "+jsonID(account)+
					") and is the no-answer target of Olga Shevchenko; pass ?force=true to delete anyway")
			if _, err := db.Employee(ctx, tn.ID, ivan.ID); err != nil {
				t.Fatalf("refused delete deleted: %v", err)
			}
		})
		t.Run("ErrPreconditionAbsenceRedirect", func(t *testing.T) {
			in := person("Anna", "anna@example.com")
			in.Absences = []telephony.AbsenceInput{
				{Kind: "vacation", StartsAt: "2020-01-01T00:00:00Z", EndsAt: "2020-01-02T00:00:00Z", Redirect: &telephony.Target{Kind: "employee", ID: olga.ID}},
			}
			anna := mustEmployee(t, db, tn.ID, in)
			if err := db.DeleteEmployee(ctx, tn.ID, olga.ID, false); err != nil {
				t.Fatalf("a past absence must not block: %v", err)
			}
			in.Absences[0].StartsAt, in.Absences[0].EndsAt = "2099-01-01T00:00:00Z", "2099-01-02T00:00:00Z"
			in.Absences[0].Redirect.ID = anna.ID
			boris := in
			boris.FullName, boris.Email = "Boris", "boris@example.com"
			mustEmployee(t, db, tn.ID, boris)
			err := db.DeleteEmployee(ctx, tn.ID, anna.ID, false)
			wantErr(t, err, telephony.EPrecondition, "", "Anna is the absence redirect of Boris; pass ?force=true")
		})
		t.Run("Force", func(t *testing.T) {
			carl := person("Carl", "carl@example.com")
			carl.NoAnswer = &telephony.NoAnswer{TimeoutS: 20, Action: "employee", TargetID: &ivan.ID}
			c := mustEmployee(t, db, tn.ID, carl)
			if err := db.DeleteEmployee(ctx, tn.ID, ivan.ID, true); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Employee(ctx, tn.ID, ivan.ID); !telephony.IsNotFound(err) {
				t.Errorf("deleted employee: err = %v, want not found", err)
			}
			if err := db.DeleteEmployee(ctx, tn.ID, ivan.ID, true); !telephony.IsNotFound(err) {
				t.Errorf("second delete: err = %v, want not found", err)
			}
			if got, _ := db.Employee(ctx, tn.ID, c.ID); got.NoAnswer != (telephony.NoAnswer{TimeoutS: 20, Action: "drop"}) {
				t.Errorf("no-answer rule of Carl = %+v, want drop after 20 s", got.NoAnswer)
			}
			if n := count(t, db, "employee_links"); n != 0 {
				t.Errorf("%d links left", n)
			}
			// The row stays for history, with its contacts.
			var deleted int
			if err := db.SQL().Get(&deleted, db.SQL().Rebind(`SELECT COUNT(*) FROM employees e JOIN employee_contacts c ON c.employee_id = e.id
				WHERE e.id = ? AND e.deleted_at IS NOT NULL`), ivan.ID); err != nil || deleted != 1 {
				t.Errorf("soft-deleted row with contact: %d, %v", deleted, err)
			}
			var detail string
			if err := db.SQL().Get(&detail, db.SQL().Rebind(`SELECT detail FROM audit_log WHERE action = 'employee.delete' AND subject_id = ?`),
				jsonID(ivan.ID)); err != nil {
				t.Fatal(err)
			}
			var d struct {
				Force      bool
				Dependents telephony.Dependents
			}
			if err := json.Unmarshal([]byte(detail), &d); err != nil || !d.Force || len(d.Dependents.CRMUsers) != 1 {
				t.Errorf("audit detail %s", detail)
			}
			// Email, name, login and extension are free again.
			again := mustEmployee(t, db, tn.ID, person("Ivan Petrov", "IVAN@example.com"))
			if again.Login != ivan.Login || again.Extension != ivan.Extension || again.ID == ivan.ID {
				t.Errorf("new Ivan = %+v, old %+v", again, ivan)
			}
		})
	})
}

func TestDB_EmployeeByContact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tn := mustTenant(t, db, "19079")
		a := mustEmployee(t, db, tn.ID, telephony.EmployeeInput{FullName: "A", Email: "a@example.com",
			Mobile: "0671111111", MainContacts: []string{"sip:a@pbx.example.com"}, OtherContacts: []string{"0442222222"}})
		b := mustEmployee(t, db, tn.ID, telephony.EmployeeInput{FullName: "B", Email: "b@example.com",
			MainContacts: []string{"0442222222"}, OtherContacts: []string{"0671111111"}})
		other := mustTenant(t, db, "20000")
		mustEmployee(t, db, other.ID, telephony.EmployeeInput{FullName: "C", Email: "c@example.com", MainContacts: []string{"+380503333333"}})
		tests := []struct {
			value string
			want  int64
		}{
			{"sip:a@pbx.example.com", a.ID},
			{"+380442222222", b.ID}, // b's main contact beats a's other contact
			{"+380671111111", a.ID}, // a's mobile beats b's other contact
		}
		for _, tt := range tests {
			got, err := db.EmployeeByContact(ctx, tn.ID, tt.value)
			if err != nil || got.ID != tt.want {
				t.Errorf("%s: %d, %v; want %d", tt.value, got.ID, err, tt.want)
			}
		}
		if _, err := db.EmployeeByContact(ctx, tn.ID, "+380503333333"); !telephony.IsNotFound(err) {
			t.Errorf("other tenant's contact: err = %v, want not found", err)
		}
		if err := db.DeleteEmployee(ctx, tn.ID, b.ID, false); err != nil {
			t.Fatal(err)
		}
		if got, err := db.EmployeeByContact(ctx, tn.ID, "+380442222222"); err != nil || got.ID != a.ID {
			t.Errorf("after deleting b: %d, %v; want a", got.ID, err)
		}
	})
}

func TestDB_Seats(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tn := mustTenant(t, db, "19079")
		seats := func() telephony.Seats {
			s, err := db.Seats(ctx, tn.ID)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		if got := seats(); got != (telephony.Seats{Included: 3}) {
			t.Errorf("empty: %+v", got)
		}
		var ids []int64
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			ids = append(ids, mustEmployee(t, db, tn.ID, person(n, n+"@example.com")).ID)
		}
		off := person("Off", "off@example.com")
		off.Enabled = ptr(false)
		mustEmployee(t, db, tn.ID, off)
		if got := seats(); got != (telephony.Seats{Included: 3, Active: 5, Billable: 2}) {
			t.Errorf("5 active, 1 disabled: %+v", got)
		}
		if err := db.DeleteEmployee(ctx, tn.ID, ids[0], false); err != nil {
			t.Fatal(err)
		}
		if got := seats(); got != (telephony.Seats{Included: 3, Active: 4, Billable: 1}) {
			t.Errorf("after a delete: %+v", got)
		}
		mustTenant(t, db, "20000")
		if s, _ := db.Seats(ctx, tn.ID+1); s.Active != 0 {
			t.Errorf("other tenant: %+v", s)
		}
	})
}
