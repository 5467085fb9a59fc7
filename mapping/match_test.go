package mapping

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Employees shared by the Match tests.
var (
	empIvan   = Employee{ID: 1, FullName: "Иван Петров", Email: "ivan.petrov@acme.example", Phones: []string{"+380671234567"}}
	empSergey = Employee{ID: 2, FullName: "Сергей Иванов", Email: "s.ivanov@acme.example", Phones: []string{"+380501112233", "sip:201@pbx.example"}}
	empYulia  = Employee{ID: 3, FullName: "Юлия Шевченко", Email: "yulia@acme.example", Phones: []string{"+79123456789"}}
	empOffice = Employee{ID: 4, FullName: "Дмитрий Ковалёв", Email: "dk@acme.example", Phones: []string{"+380441234567"}}
	empOffic2 = Employee{ID: 5, FullName: "Ольга Бойко", Email: "ob@acme.example", Phones: []string{"+380441234567"}}
	empIvan2  = Employee{ID: 6, FullName: "Ivan Petrov", Email: "ip2@acme.example"}
)

func active(id, name, email string, phones ...string) CRMUser {
	return CRMUser{ID: id, Name: name, Email: email, Phones: phones, Active: true}
}

func auto(user string, emp int64, rule string) Link {
	conf := map[string]float64{RuleEmail: ConfidenceEmail, RulePhone: ConfidencePhone, RuleName: ConfidenceName}[rule]
	return Link{CRMUserID: user, EmployeeID: emp, Rule: rule, Confidence: conf}
}

func manual(user string, emp int64) Link {
	return Link{CRMUserID: user, EmployeeID: emp, Manual: true, Rule: RuleManual, Confidence: 1}
}

func counts(manual, email, phone, name int) map[string]int {
	return map[string]int{RuleManual: manual, RuleEmail: email, RulePhone: phone, RuleName: name}
}

func TestMatch(t *testing.T) {
	all := []Employee{empIvan, empSergey, empYulia}
	tests := []struct {
		name      string
		users     []CRMUser
		employees []Employee
		existing  []Link
		want      Result
	}{
		{
			name: "empty",
			want: Result{Counts: counts(0, 0, 0, 0)},
		},
		{
			name:      "email with case and spaces",
			users:     []CRMUser{active("u1", "Somebody", "  IVAN.Petrov@ACME.example ")},
			employees: all,
			want:      Result{Links: []Link{auto("u1", 1, RuleEmail)}, Counts: counts(0, 1, 0, 0)},
		},
		{
			name:      "phone in national format",
			users:     []CRMUser{active("u1", "Somebody", "other@crm.example", "067 123-45-67")},
			employees: all,
			want:      Result{Links: []Link{auto("u1", 1, RulePhone)}, Counts: counts(0, 0, 1, 0)},
		},
		{
			name:      "foreign phone, invalid phones ignored",
			users:     []CRMUser{active("u1", "", "", "n/a", "", "8 (912) 345", "+7 (912) 345-67-89")},
			employees: all,
			want:      Result{Links: []Link{auto("u1", 3, RulePhone)}, Counts: counts(0, 0, 1, 0)},
		},
		{
			name:      "transliterated names",
			users:     []CRMUser{active("u1", "Ivan Petrov", ""), active("u2", "Sergei Ivanov", ""), active("u3", "Shevchenko Yuliya", "")},
			employees: all,
			want: Result{
				Links:  []Link{auto("u1", 1, RuleName), auto("u2", 2, RuleName), auto("u3", 3, RuleName)},
				Counts: counts(0, 0, 0, 3),
			},
		},
		{
			name:      "email beats phone and name",
			users:     []CRMUser{active("u1", "Юлия Шевченко", "s.ivanov@acme.example", "+380671234567")},
			employees: all,
			want:      Result{Links: []Link{auto("u1", 2, RuleEmail)}, Unmatched: nil, Counts: counts(0, 1, 0, 0)},
		},
		{
			name:      "inactive users are not matched nor listed",
			users:     []CRMUser{{ID: "u1", Email: "ivan.petrov@acme.example"}, active("u2", "Nobody", "")},
			employees: all,
			want:      Result{Unmatched: []string{"u2"}, Counts: counts(0, 0, 0, 0)},
		},
		{
			name:      "manual link survives a re-sync against the evidence",
			users:     []CRMUser{active("u1", "Ivan Petrov", "ivan.petrov@acme.example")},
			employees: all,
			existing:  []Link{manual("u1", 2)},
			want:      Result{Links: []Link{manual("u1", 2)}, Counts: counts(1, 0, 0, 0)},
		},
		{
			name:      "manual link kept for deactivated, deleted users and deleted employees",
			users:     []CRMUser{{ID: "u1", Name: "Ivan Petrov"}},
			employees: all,
			existing:  []Link{manual("u1", 1), manual("gone", 2), manual("u3", 99)},
			want:      Result{Links: []Link{manual("gone", 2), manual("u1", 1), manual("u3", 99)}, Counts: counts(3, 0, 0, 0)},
		},
		{
			name:      "manual link takes its employee from automatic matching",
			users:     []CRMUser{active("u1", "", "x@crm.example"), active("u2", "Ivan Petrov", "ivan.petrov@acme.example")},
			employees: all,
			existing:  []Link{manual("u1", 1)},
			want:      Result{Links: []Link{manual("u1", 1)}, Unmatched: []string{"u2"}, Counts: counts(1, 0, 0, 0)},
		},
		{
			name:      "manual link replaces an automatic one",
			users:     []CRMUser{active("u1", "Ivan Petrov", "ivan.petrov@acme.example")},
			employees: all,
			existing:  []Link{auto("u1", 1, RuleEmail), manual("u1", 3)},
			want: Result{
				Links:    []Link{manual("u1", 3)},
				Unlinked: []Unlink{{CRMUserID: "u1", EmployeeID: 1, Reason: ReasonManual}},
				Counts:   counts(1, 0, 0, 0),
			},
		},
		{
			name:      "deactivated user loses its automatic link",
			users:     []CRMUser{{ID: "u1", Email: "ivan.petrov@acme.example", Active: false}},
			employees: all,
			existing:  []Link{auto("u1", 1, RuleEmail)},
			want: Result{
				Unlinked: []Unlink{{CRMUserID: "u1", EmployeeID: 1, Reason: "deactivated in CRM"}},
				Counts:   counts(0, 0, 0, 0),
			},
		},
		{
			name:      "deleted user loses its automatic link and the employee is free again",
			users:     []CRMUser{active("u2", "Ivan Petrov", "")},
			employees: all,
			existing:  []Link{auto("u1", 1, RuleEmail)},
			want: Result{
				Links:    []Link{auto("u2", 1, RuleName)},
				Unlinked: []Unlink{{CRMUserID: "u1", EmployeeID: 1, Reason: "deleted in CRM"}},
				Counts:   counts(0, 0, 0, 1),
			},
		},
		{
			name:      "deleted employee",
			users:     []CRMUser{active("u1", "Ivan Petrov", "ivan.petrov@acme.example")},
			employees: []Employee{empSergey},
			existing:  []Link{auto("u1", 1, RuleEmail)},
			want: Result{
				Unlinked:  []Unlink{{CRMUserID: "u1", EmployeeID: 1, Reason: ReasonEmployeeDeleted}},
				Unmatched: []string{"u1"},
				Counts:    counts(0, 0, 0, 0),
			},
		},
		{
			name:      "existing link keeps its rule and confidence",
			users:     []CRMUser{active("u1", "Ivan Petrov", "ivan.petrov@acme.example")},
			employees: all,
			existing:  []Link{{CRMUserID: "u1", EmployeeID: 1, Rule: RuleName, Confidence: 0.7}},
			want:      Result{Links: []Link{auto("u1", 1, RuleName)}, Counts: counts(0, 0, 0, 1)},
		},
		{
			name:      "existing link stays although a newcomer has the same name",
			users:     []CRMUser{active("u1", "Ivan Petrov", ""), active("u2", "Иван Петров", "")},
			employees: all,
			existing:  []Link{auto("u1", 1, RuleName)},
			want:      Result{Links: []Link{auto("u1", 1, RuleName)}, Unmatched: []string{"u2"}, Counts: counts(0, 0, 0, 1)},
		},
		{
			name:      "link whose email changed is kept under the phone rule",
			users:     []CRMUser{active("u1", "", "new@crm.example", "+380671234567")},
			employees: all,
			existing:  []Link{auto("u1", 1, RuleEmail)},
			want:      Result{Links: []Link{auto("u1", 1, RulePhone)}, Counts: counts(0, 0, 1, 0)},
		},
		{
			name:      "link that no longer matches is removed",
			users:     []CRMUser{active("u1", "Somebody Else", "", "+380509999999")},
			employees: all,
			existing:  []Link{auto("u1", 1, RulePhone), {CRMUserID: "u1", EmployeeID: 2, Rule: "legacy"}},
			want: Result{
				Unlinked: []Unlink{
					{CRMUserID: "u1", EmployeeID: 1, Reason: "no longer matches by phone"},
					{CRMUserID: "u1", EmployeeID: 2, Reason: `no longer matches (unknown rule "legacy")`},
				},
				Unmatched: []string{"u1"},
				Counts:    counts(0, 0, 0, 0),
			},
		},
		{
			name:      "link that now matches someone else moves",
			users:     []CRMUser{active("u1", "Yulia Shevchenko", "yulia@acme.example")},
			employees: all,
			existing:  []Link{auto("u1", 1, RuleName)},
			want: Result{
				Links:    []Link{auto("u1", 3, RuleEmail)},
				Unlinked: []Unlink{{CRMUserID: "u1", EmployeeID: 1, Reason: "no longer matches by name"}},
				Counts:   counts(0, 1, 0, 0),
			},
		},
		{
			name:      "two existing links to one employee: the first wins",
			users:     []CRMUser{active("u1", "Ivan Petrov", ""), active("u2", "Ivan Petrov", "")},
			employees: all,
			existing:  []Link{auto("u2", 1, RuleName), auto("u1", 1, RuleName)},
			want: Result{
				Links:     []Link{auto("u1", 1, RuleName)},
				Unlinked:  []Unlink{{CRMUserID: "u2", EmployeeID: 1, Reason: ReasonDuplicate}},
				Unmatched: []string{"u2"},
				Counts:    counts(0, 0, 0, 1),
			},
		},
		{
			name:      "two CRM users with one employee's email",
			users:     []CRMUser{active("u1", "", "Ivan.Petrov@acme.example"), active("u2", "", "ivan.petrov@acme.example")},
			employees: all,
			want: Result{
				Ambiguous: []Ambiguity{
					{CRMUserID: "u1", Rule: RuleEmail, EmployeeIDs: []int64{1}, Reason: "CRM users u1 and u2 both match employee 1 by email ivan.petrov@acme.example"},
					{CRMUserID: "u2", Rule: RuleEmail, EmployeeIDs: []int64{1}, Reason: "CRM users u1 and u2 both match employee 1 by email ivan.petrov@acme.example"},
				},
				Unmatched: []string{"u1", "u2"},
				Counts:    counts(0, 0, 0, 0),
			},
		},
		{
			name:      "two employees share a phone",
			users:     []CRMUser{active("u1", "", "", "+380 44 123 45 67")},
			employees: []Employee{empOffice, empOffic2},
			want: Result{
				Ambiguous: []Ambiguity{{CRMUserID: "u1", Rule: RulePhone, EmployeeIDs: []int64{4, 5}, Reason: "employees 4 and 5 both match phone +380441234567"}},
				Unmatched: []string{"u1"},
				Counts:    counts(0, 0, 0, 0),
			},
		},
		{
			name:      "two employees with one name key",
			users:     []CRMUser{active("u1", "PETROV Ivan", "")},
			employees: []Employee{empIvan, empIvan2},
			want: Result{
				Ambiguous: []Ambiguity{{CRMUserID: "u1", Rule: RuleName, EmployeeIDs: []int64{1, 6}, Reason: "employees 1 and 6 both match name ivan petrov"}},
				Unmatched: []string{"u1"},
				Counts:    counts(0, 0, 0, 0),
			},
		},
		{
			name:      "phones matching different employees",
			users:     []CRMUser{active("u1", "", "", "+380671234567", "+380501112233")},
			employees: all,
			want: Result{
				Ambiguous: []Ambiguity{{CRMUserID: "u1", Rule: RulePhone, EmployeeIDs: []int64{1, 2}, Reason: "employees 1 and 2 both match phones +380671234567, +380501112233"}},
				Unmatched: []string{"u1"},
				Counts:    counts(0, 0, 0, 0),
			},
		},
		{
			name:      "contested pair does not fall through to the name rule",
			users:     []CRMUser{active("u1", "Dmitriy Kovalev", "", "+380441234567")},
			employees: []Employee{empOffice, empOffic2},
			want: Result{
				Ambiguous: []Ambiguity{{CRMUserID: "u1", Rule: RulePhone, EmployeeIDs: []int64{4, 5}, Reason: "employees 4 and 5 both match phone +380441234567"}},
				Unmatched: []string{"u1"},
				Counts:    counts(0, 0, 0, 0),
			},
		},
		{
			name:      "ambiguous user may match an uncontested employee by name",
			users:     []CRMUser{active("u1", "Ivan Petrov", "", "+380441234567")},
			employees: []Employee{empIvan, empOffice, empOffic2},
			want: Result{
				Links:     []Link{auto("u1", 1, RuleName)},
				Ambiguous: []Ambiguity{{CRMUserID: "u1", Rule: RulePhone, EmployeeIDs: []int64{4, 5}, Reason: "employees 4 and 5 both match phone +380441234567"}},
				Counts:    counts(0, 0, 0, 1),
			},
		},
		{
			name: "contested employee may match another user by name",
			users: []CRMUser{
				active("u1", "", "", "+380671234567"), active("u2", "", "", "067 123 45 67"), active("u3", "Ivan Petrov", ""),
			},
			employees: []Employee{empIvan},
			want: Result{
				Links: []Link{auto("u3", 1, RuleName)},
				Ambiguous: []Ambiguity{
					{CRMUserID: "u1", Rule: RulePhone, EmployeeIDs: []int64{1}, Reason: "CRM users u1 and u2 both match employee 1 by phone +380671234567"},
					{CRMUserID: "u2", Rule: RulePhone, EmployeeIDs: []int64{1}, Reason: "CRM users u1 and u2 both match employee 1 by phone +380671234567"},
				},
				Unmatched: []string{"u1", "u2"},
				Counts:    counts(0, 0, 0, 1),
			},
		},
		{
			name: "one-to-one by a weaker rule after an ambiguous stronger one elsewhere",
			users: []CRMUser{
				active("u1", "Sergey Ivanov", "shared@crm.example"), active("u2", "Yulia Shevchenko", "shared@crm.example"),
			},
			employees: []Employee{empSergey, empYulia, {ID: 7, FullName: "Shared Box", Email: "shared@crm.example"}},
			want: Result{
				Links: []Link{auto("u1", 2, RuleName), auto("u2", 3, RuleName)},
				Ambiguous: []Ambiguity{
					{CRMUserID: "u1", Rule: RuleEmail, EmployeeIDs: []int64{7}, Reason: "CRM users u1 and u2 both match employee 7 by email shared@crm.example"},
					{CRMUserID: "u2", Rule: RuleEmail, EmployeeIDs: []int64{7}, Reason: "CRM users u1 and u2 both match employee 7 by email shared@crm.example"},
				},
				Counts: counts(0, 0, 0, 2),
			},
		},
		{
			name: "full sync",
			users: []CRMUser{
				active("10", "Ivan Petrov", "IVAN.PETROV@acme.example"),
				active("11", "Sergei Ivanov", "", "+38 050 111 22 33"),
				active("12", "Julia Shevchenko", ""),
				{ID: "13", Name: "Old Manager", Email: "old@acme.example"},
				active("14", "Unknown Person", "nobody@crm.example"),
			},
			employees: all,
			existing:  []Link{auto("13", 4, RuleEmail), auto("9", 2, RulePhone)},
			want: Result{
				Links: []Link{auto("10", 1, RuleEmail), auto("11", 2, RulePhone), auto("12", 3, RuleName)},
				Unlinked: []Unlink{
					{CRMUserID: "13", EmployeeID: 4, Reason: ReasonDeactivated},
					{CRMUserID: "9", EmployeeID: 2, Reason: ReasonDeleted},
				},
				Unmatched: []string{"14"},
				Counts:    counts(0, 1, 1, 1),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Match(tt.users, tt.employees, tt.existing, "UA")
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Match mismatch (-want +got):\n%s", diff)
			}
			checkOneToOne(t, got)
		})
	}
}

// checkOneToOne fails when an automatic link shares a user or an employee
// with any other link.
func checkOneToOne(t *testing.T, r Result) {
	t.Helper()
	users, emps := map[string]int{}, map[int64]int{}
	for _, l := range r.Links {
		users[l.CRMUserID]++
		emps[l.EmployeeID]++
	}
	for _, l := range r.Links {
		if !l.Manual && (users[l.CRMUserID] > 1 || emps[l.EmployeeID] > 1) {
			t.Errorf("link %+v is not one to one", l)
		}
	}
}

func TestMatch_ManyCandidates(t *testing.T) {
	var emps []Employee
	for i := range 12 {
		emps = append(emps, Employee{ID: int64(100 + i), FullName: "E", Phones: []string{"+380441234567"}})
	}
	got := Match([]CRMUser{active("u1", "", "", "+380441234567")}, emps, nil, "UA")
	want := []Ambiguity{{
		CRMUserID:   "u1",
		Rule:        RulePhone,
		EmployeeIDs: []int64{100, 101, 102, 103, 104, 105, 106, 107, 108, 109},
		Reason:      "more than 10 employees (100, 101, 102, 103, 104, 105, 106, 107, 108, 109, …) match phone +380441234567",
	}}
	if diff := cmp.Diff(want, got.Ambiguous); diff != "" {
		t.Errorf("Ambiguous mismatch (-want +got):\n%s", diff)
	}
}

func TestMatch_Deterministic(t *testing.T) {
	users, emps := syntheticAccount(300)
	existing := []Link{manual(users[5].ID, emps[7].ID), auto(users[9].ID, emps[9].ID, RuleEmail), auto("gone", 3, RuleName)}
	want := Match(users, emps, existing, "UA")
	checkOneToOne(t, want)
	if len(want.Links) == 0 || len(want.Ambiguous) == 0 || len(want.Unmatched) == 0 {
		t.Fatalf("synthetic account should exercise every outcome: %d links, %d ambiguous, %d unmatched",
			len(want.Links), len(want.Ambiguous), len(want.Unmatched))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		u, e, x := slices.Clone(users), slices.Clone(emps), slices.Clone(existing)
		rng.Shuffle(len(u), func(i, j int) { u[i], u[j] = u[j], u[i] })
		rng.Shuffle(len(e), func(i, j int) { e[i], e[j] = e[j], e[i] })
		rng.Shuffle(len(x), func(i, j int) { x[i], x[j] = x[j], x[i] })
		if diff := cmp.Diff(want, Match(u, e, x, "UA")); diff != "" {
			t.Fatalf("Match depends on input order (-first +shuffled):\n%s", diff)
		}
	}
	// A second sync over its own output changes nothing.
	again := Match(users, emps, want.Links, "UA")
	if diff := cmp.Diff(want.Links, again.Links); diff != "" {
		t.Errorf("re-sync changed links (-first +second):\n%s", diff)
	}
	if len(again.Unlinked) != 0 {
		t.Errorf("re-sync unlinked %v", again.Unlinked)
	}
}
