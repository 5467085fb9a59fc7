package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

// mustTenant creates a tenant with prefix in region UA.
func mustTenant(t *testing.T, db *store.DB, prefix string) telephony.Tenant {
	t.Helper()
	tn, _, err := db.CreateTenant(context.Background(), telephony.NewTenant{Name: "T" + prefix, Prefix: prefix, Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func mustEmployee(t *testing.T, db *store.DB, tenantID int64, in telephony.EmployeeInput) telephony.Employee {
	t.Helper()
	e, err := db.CreateEmployee(context.Background(), tenantID, in)
	if err != nil {
		t.Fatalf("create employee %q: %v", in.FullName, err)
	}
	return e
}

func person(name, email string) telephony.EmployeeInput {
	return telephony.EmployeeInput{FullName: name, Email: email}
}

// wantErr fails unless err is a *telephony.Error (possibly wrapped) with
// code and field and a message containing msg.
func wantErr(t *testing.T, err error, code telephony.Code, field, msg string) {
	t.Helper()
	var e *telephony.Error
	if !errors.As(err, &e) || e.Code != code || e.Field != field || !strings.Contains(e.Message, msg) {
		t.Fatalf("err = %v, want %s on %q containing %q", err, code, field, msg)
	}
}

// wantInvalid fails unless err is a telephony.Errors whose first error is on
// field with a message containing msg.
func wantInvalid(t *testing.T, err error, field, msg string) {
	t.Helper()
	var es telephony.Errors
	if !errors.As(err, &es) || es[0].Field != field || !strings.Contains(es[0].Message, msg) {
		t.Fatalf("err = %v, want invalid %q containing %q", err, field, msg)
	}
}

// count returns the rows of table.
func count(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.SQL().Get(&n, `SELECT COUNT(*) FROM `+table); err != nil {
		t.Fatal(err)
	}
	return n
}

func exec(t *testing.T, db *store.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.SQL().Exec(db.SQL().Rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// mustLink links employeeID to a CRM user named name of a new account.
func mustLink(t *testing.T, db *store.DB, tenantID, employeeID int64, connector, name string) int64 {
	t.Helper()
	now := time.Now().UTC()
	var accountID, userID int64
	err := db.SQL().Get(&accountID, db.SQL().Rebind(`INSERT INTO crm_accounts (tenant_id, connector, external_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`), tenantID, connector, name, now, now)
	if err != nil {
		t.Fatal(err)
	}
	err = db.SQL().Get(&userID, db.SQL().Rebind(`INSERT INTO crm_users (tenant_id, account_id, external_id, name, updated_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`), tenantID, accountID, "u1", name, now)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO employee_links (tenant_id, account_id, crm_user_id, employee_id, manual, rule, confidence, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 'email', 1, ?, ?)`, tenantID, accountID, userID, employeeID, false, now, now)
	return accountID
}

func TestDB_CreateEmployee(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tn := mustTenant(t, db, "19079")

		t.Run("OK", func(t *testing.T) {
			e := mustEmployee(t, db, tn.ID, telephony.EmployeeInput{
				Email: "Ivan.Petrov@Example.com", FullName: " Иван Петров ", Password: "s3cret-pass",
				Mobile: "067 123 45 67", MainContacts: []string{"sip:ivan@pbx.example.com", "050 123 45 67"},
				OtherContacts: []string{"+380 44 123 45 67"},
				Schedule:      []telephony.SlotInput{{Weekday: []byte(`"friday"`), Start: "9:00", End: "17:30"}},
				Absences:      []telephony.AbsenceInput{{Kind: "sick_leave", StartsAt: "2025-01-10T00:00:00+02:00", EndsAt: "2025-01-12T00:00:00+02:00"}},
			})
			want := telephony.Employee{
				ID: e.ID, Email: "ivan.petrov@example.com", FullName: "Иван Петров", Login: "19079_ivan", Role: "user",
				Extension: "100", Mobile: "+380671234567", MainContacts: []string{"sip:ivan@pbx.example.com", "+380501234567"},
				OtherContacts: []string{"+380441234567"}, Devices: "all",
				NoAnswer: telephony.NoAnswer{TimeoutS: 30, Action: "drop"},
				Schedule: []telephony.Slot{{Weekday: time.Friday, Start: "09:00", End: "17:30"}},
				Absences: []telephony.Absence{{Kind: "sick_leave",
					StartsAt: time.Date(2025, 1, 9, 22, 0, 0, 0, time.UTC), EndsAt: time.Date(2025, 1, 11, 22, 0, 0, 0, time.UTC)}},
				Enabled: true, SIPStatus: "not_created", CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
			}
			if diff := cmp.Diff(want, e); diff != "" {
				t.Errorf("employee (-want +got):\n%s", diff)
			}
			var hash string
			if err := db.SQL().Get(&hash, db.SQL().Rebind(`SELECT password_hash FROM employees WHERE id = ?`), e.ID); err != nil {
				t.Fatal(err)
			}
			if bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret-pass")) != nil {
				t.Errorf("password_hash %q is not a bcrypt hash of the password", hash)
			}
			var actions []string
			if err := db.SQL().Select(&actions, db.SQL().Rebind(`SELECT action FROM audit_log WHERE tenant_id = ? AND subject_id = ?`), tn.ID, fmt.Sprint(e.ID)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"employee.create"}, actions); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
		})

		t.Run("ErrConflict", func(t *testing.T) {
			_, err := db.CreateEmployee(ctx, tn.ID, person("Someone Else", "IVAN.petrov@example.com"))
			wantErr(t, err, telephony.EConflict, "email", "already exists")
			_, err = db.CreateEmployee(ctx, tn.ID, person("  иван   ПЕТРОВ", "other@example.com"))
			wantErr(t, err, telephony.EConflict, "full_name", "already exists")
			in := person("Login Taker", "taker@example.com")
			in.Login = "ivan"
			_, err = db.CreateEmployee(ctx, tn.ID, in)
			wantErr(t, err, telephony.EConflict, "login", "taken")
			in.Login, in.Extension = "", "100"
			_, err = db.CreateEmployee(ctx, tn.ID, in)
			wantErr(t, err, telephony.EConflict, "extension", "taken by another employee or department")
		})

		t.Run("ErrInvalidNothingWritten", func(t *testing.T) {
			tables := []string{"employees", "employee_contacts", "schedule_slots", "absences", "extensions", "audit_log"}
			before := map[string]int{}
			for _, tb := range tables {
				before[tb] = count(t, db, tb)
			}
			in := person("Good Name", "good@example.com")
			in.MainContacts = []string{"+380501112233", "not a number", "sip:good@pbx.example.com"}
			in.Schedule = []telephony.SlotInput{{Weekday: []byte(`1`), Start: "09:00", End: "18:00"}}
			in.DepartmentID = ptr(int64(999999))
			_, err := db.CreateEmployee(ctx, tn.ID, in)
			var es telephony.Errors
			if !errors.As(err, &es) || len(es) != 2 || es[0].Field != "main_contacts[1]" || es[1].Field != "department_id" ||
				es[1].Message != "department 999999 does not exist" {
				t.Fatalf("err = %v, want main_contacts[1] and department_id", err)
			}
			for _, tb := range tables {
				if n := count(t, db, tb); n != before[tb] {
					t.Errorf("%s: %d rows, want %d", tb, n, before[tb])
				}
			}
		})

		t.Run("ErrTargetOfOtherTenant", func(t *testing.T) {
			other := mustTenant(t, db, "20000")
			stranger := mustEmployee(t, db, other.ID, person("Stranger", "stranger@example.com"))
			dept, err := db.CreateDepartment(ctx, other.ID, telephony.DepartmentInput{Name: "Their sales"})
			if err != nil {
				t.Fatal(err)
			}
			in := person("Curious", "curious@example.com")
			in.DepartmentID = &dept.ID
			in.NoAnswer = &telephony.NoAnswer{TimeoutS: 20, Action: "employee", TargetID: &stranger.ID}
			in.Absences = []telephony.AbsenceInput{{Kind: "vacation", StartsAt: "2030-01-01T00:00:00Z", EndsAt: "2030-01-02T00:00:00Z",
				Redirect: &telephony.Target{Kind: "department", ID: dept.ID}}}
			_, err = db.CreateEmployee(ctx, tn.ID, in)
			var es telephony.Errors
			if !errors.As(err, &es) || len(es) != 3 || es[1].Field != "no_answer.target_id" || es[2].Field != "absences[0].redirect.id" {
				t.Fatalf("err = %v, want department_id, no_answer.target_id and absences[0].redirect.id", err)
			}
		})
	})
}

func TestDB_CreateEmployee_Login(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tn := mustTenant(t, db, "19079")
		tests := []struct {
			name, email, want string
		}{
			{"Иван Петров", "ivan1@example.com", "19079_ivan"},
			{"Ivan Sidorov", "ivan2@example.com", "19079_ivan_sidorov"},
			{"Іван Сидоров", "ivan3@example.com", "19079_isidorov"},
			{"Иван Сидоров", "ivan4@example.com", "19079_ivan2"},
			{"Ivan", "ivan5@example.com", "19079_ivan3"},
			{"Юлия Щукина", "yuliia@example.com", "19079_yuliia"},
			{"Сергей", "sergei@example.com", "19079_sergei"},
			{"王伟", "wang@example.com", "19079_user"},
		}
		for _, tt := range tests {
			if e := mustEmployee(t, db, tn.ID, person(tt.name, tt.email)); e.Login != tt.want {
				t.Errorf("%s: login %q, want %q", tt.name, e.Login, tt.want)
			}
		}
		// Another tenant has its own prefix, so the same name is free there.
		other := mustTenant(t, db, "20000")
		if e := mustEmployee(t, db, other.ID, person("Иван Петров", "ivan1@example.com")); e.Login != "20000_ivan" {
			t.Errorf("other tenant: login %q", e.Login)
		}
	})
}

func TestDB_CreateEmployee_Extension(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tn := mustTenant(t, db, "19079")
		if _, err := db.CreateDepartment(ctx, tn.ID, telephony.DepartmentInput{Name: "Sales"}); err != nil { // takes 100
			t.Fatal(err)
		}
		chosen := person("Chooser", "chooser@example.com")
		chosen.Extension = "106"
		mustEmployee(t, db, tn.ID, chosen)
		var got []string
		for i, name := range []string{"A", "B", "C"} {
			e := mustEmployee(t, db, tn.ID, person(name, "e"+string(rune('a'+i))+"@example.com"))
			got = append(got, e.Extension)
		}
		// 101–104 are emergency numbers, 100 is the department's, 106 chosen.
		if diff := cmp.Diff([]string{"105", "107", "108"}, got); diff != "" {
			t.Errorf("extensions (-want +got):\n%s", diff)
		}
		_, err := db.CreateDepartment(ctx, tn.ID, telephony.DepartmentInput{Name: "Support", Extension: "105"})
		wantErr(t, err, telephony.EConflict, "extension", "taken by another employee or department")
		in := person("D", "d@example.com")
		in.Extension = "100"
		_, err = db.CreateEmployee(ctx, tn.ID, in)
		wantErr(t, err, telephony.EConflict, "extension", "taken")
		in.Extension = "112"
		_, err = db.CreateEmployee(ctx, tn.ID, in)
		wantInvalid(t, err, "extension", "emergency number")
		// Another tenant's extensions are its own.
		other := mustTenant(t, db, "20000")
		if e := mustEmployee(t, db, other.ID, person("A", "a@example.com")); e.Extension != "100" {
			t.Errorf("other tenant: extension %q, want 100", e.Extension)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// Concurrent creates that get their login and extension assigned all
// succeed with distinct ones: a create that loses the race for either
// retries with the next free value.
func TestDB_CreateEmployee_Concurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tn := mustTenant(t, db, "19079")
		const n = 6
		var wg sync.WaitGroup
		results := make(chan telephony.Employee, n)
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				e, err := db.CreateEmployee(context.Background(), tn.ID, person(fmt.Sprintf("Ivan Number%d", i), fmt.Sprintf("ivan%d@example.com", i)))
				if err != nil {
					errs <- err
					return
				}
				results <- e
			})
		}
		wg.Wait()
		close(results)
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		logins, exts := map[string]bool{}, map[string]bool{}
		for e := range results {
			if logins[e.Login] || exts[e.Extension] {
				t.Errorf("duplicate login or extension: %s %s", e.Login, e.Extension)
			}
			logins[e.Login], exts[e.Extension] = true, true
		}
	})
}
