package telephony_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/telephony"
)

func TestEmployeePatch_Apply(t *testing.T) {
	base := telephony.EmployeeInput{
		Email: "ivan@example.com", FullName: "Ivan Petrov", Position: "Sales", DepartmentID: ptr(int64(3)),
		MainContacts: []string{"+380501234567"}, Enabled: ptr(true),
	}
	patch := func(s string) telephony.EmployeePatch {
		var p telephony.EmployeePatch
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("OnlyGivenFields", func(t *testing.T) {
		got, err := patch(`{"position":"Head of sales","enabled":false,"id":5,"updated_at":"x"}`).Apply(base)
		if err != nil {
			t.Fatal(err)
		}
		want := base
		want.Position, want.Enabled = "Head of sales", ptr(false)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("NullClears", func(t *testing.T) {
		got, err := patch(`{"department_id":null,"main_contacts":[]}`).Apply(base)
		if err != nil {
			t.Fatal(err)
		}
		if got.DepartmentID != nil || len(got.MainContacts) != 0 || got.FullName != "Ivan Petrov" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("ErrUnknownField", func(t *testing.T) {
		_, err := patch(`{"nickname":"vanya"}`).Apply(base)
		var e *telephony.Error
		if !errors.As(err, &e) || e.Code != telephony.EInvalid || e.Field != "nickname" || e.Message != "unknown field" {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("ErrWrongType", func(t *testing.T) {
		_, err := patch(`{"no_answer":{"timeout_s":"soon"}}`).Apply(base)
		var e *telephony.Error
		if !errors.As(err, &e) || e.Field != "no_answer.timeout_s" || !strings.Contains(e.Message, "must be a JSON number") {
			t.Fatalf("err = %#v", err)
		}
	})
}

func TestChangedFields(t *testing.T) {
	a := telephony.Employee{FullName: "A", MainContacts: []string{"+1"}, Enabled: true}
	b := a
	b.FullName, b.MainContacts, b.Enabled = "B", []string{"+1", "+2"}, false
	if diff := cmp.Diff([]string{"enabled", "full_name", "main_contacts"}, telephony.ChangedFields(a, b)); diff != "" {
		t.Error(diff)
	}
	if got := telephony.ChangedFields(a, a); got != nil {
		t.Errorf("no change: %v", got)
	}
}

func TestDependents_Refuse(t *testing.T) {
	tests := []struct {
		name string
		deps telephony.Dependents
		want string
	}{
		{"LinkAndTarget", telephony.Dependents{
			CRMUsers:   []telephony.LinkedCRMUser{{Name: "Ivan P.", Connector: "hubspot", AccountID: 3}},
			NoAnswerOf: []string{"Olga Shevchenko"},
		}, "Ivan Petrov is linked to CRM user 'Ivan P.' (hubspot account 3) and is the no-answer target of Olga Shevchenko; pass ?force=true to delete anyway"},
		{"Everything", telephony.Dependents{
			CRMUsers: []telephony.LinkedCRMUser{
				{Name: "Ivan P.", Connector: "hubspot", AccountID: 3}, {Name: "ivan", Connector: "amocrm", AccountID: 4}},
			NoAnswerOf: []string{"A", "B", "C"},
			RedirectOf: []string{"D"},
		}, "Ivan Petrov is linked to CRM users 'Ivan P.' (hubspot account 3) and 'ivan' (amocrm account 4), " +
			"is the no-answer target of A, B and C and is the absence redirect of D; pass ?force=true to delete anyway"},
		{"Members", telephony.Dependents{Members: []string{"A", "B"}},
			"Ivan Petrov has 2 members (A, B); pass ?force=true to delete anyway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.deps.Empty() {
				t.Fatal("Empty() = true")
			}
			err := tt.deps.Refuse("Ivan Petrov")
			e, ok := err.(*telephony.Error)
			if !ok || e.Code != telephony.EPrecondition || e.Message != tt.want {
				t.Errorf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
	if !(telephony.Dependents{}).Empty() {
		t.Error("zero Dependents not Empty")
	}
}

func TestNewSeats(t *testing.T) {
	for active, want := range map[int]telephony.Seats{
		0: {3, 0, 0}, 3: {3, 3, 0}, 4: {3, 4, 1}, 10: {3, 10, 7},
	} {
		if got := telephony.NewSeats(active); got != want {
			t.Errorf("NewSeats(%d) = %+v, want %+v", active, got, want)
		}
	}
}

func TestDepartmentInput_Normalize(t *testing.T) {
	got, err := telephony.DepartmentInput{Name: "  Sales ", Extension: " 200 "}.Normalize(uaRules)
	if err != nil || got != (telephony.DepartmentInput{Name: "Sales", Extension: "200"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	_, err = telephony.DepartmentInput{Name: " ", Extension: "911"}.Normalize(uaRules)
	es, _ := err.(telephony.Errors)
	if len(es) != 2 || es[0].Field != "name" || es[1].Field != "extension" || !strings.Contains(es[1].Message, "emergency") {
		t.Fatalf("err = %v", err)
	}
}

func TestNumberInput_Normalize(t *testing.T) {
	got, err := telephony.NumberInput{Number: "044 123 45 67", Label: " Kyiv office "}.Normalize(uaRules)
	if err != nil || got != (telephony.NumberInput{Number: "+380441234567", Label: "Kyiv office"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, raw := range []string{"", "12", "call us"} {
		_, err := telephony.NumberInput{Number: raw}.Normalize(uaRules)
		if es, _ := err.(telephony.Errors); len(es) != 1 || es[0].Field != "number" {
			t.Errorf("%q: err = %v", raw, err)
		}
	}
}
