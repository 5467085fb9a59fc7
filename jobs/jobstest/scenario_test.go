package jobstest

import (
	"testing"

	"github.com/crmsync/crmsync/mapping"
)

// TestScenario_Want checks the scenario's promised outcome against the
// matcher itself, without a database.
func TestScenario_Want(t *testing.T) {
	s := Scenario{N: 10000}
	var users []mapping.CRMUser
	for _, u := range s.Users() {
		users = append(users, mapping.CRMUser{ID: u.ID, Name: u.Name, Email: u.Email, Active: u.Active})
	}
	emps := make([]mapping.Employee, s.N)
	for i := range emps {
		_, cyr := word(i)
		emps[i] = mapping.Employee{ID: int64(i + 1), FullName: "Иван " + cyr, Email: EmployeeEmail(i)}
	}
	res := mapping.Match(users, emps, nil, "UA")
	w := s.Want()
	got := Want{Fetched: len(users), Active: w.Active, Email: res.Counts["email"], Name: res.Counts["name"],
		Ambiguous: len(res.Ambiguous), Unmatched: len(res.Unmatched)}
	if got != w {
		t.Errorf("match = %+v, want %+v", got, w)
	}
}
