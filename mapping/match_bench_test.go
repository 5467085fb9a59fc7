package mapping

import (
	"fmt"
	"testing"
)

var (
	firstNames = []string{"Иван", "Сергей", "Юлия", "Дмитрий", "Ольга", "Алексей", "Наталья", "Андрей", "Татьяна", "Михаил", "Елена", "Николай", "Ксения", "Пётр", "Анна", "Евгений"}
	lastNames  = []string{"Петров", "Иванов", "Шевченко", "Коваленко", "Бойко", "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Новиков", "Морозов", "Волков", "Зайцев", "Павлов", "Семёнов"}
)

// syntheticAccount returns n CRM users and n employees of one account.
// Employees have Cyrillic names, an email and an E.164 phone; users carry
// the same person in CRM style: 60% by email, 20% by a national-format
// phone only, 15% by Latin name only, 5% strangers. Every 50th employee
// shares an office number, and names repeat, so some matches are ambiguous.
func syntheticAccount(n int) ([]CRMUser, []Employee) {
	users := make([]CRMUser, 0, n)
	emps := make([]Employee, 0, n)
	for i := range n {
		first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
		name := fmt.Sprintf("%s %s", first, last)
		if i >= len(firstNames)*len(lastNames) {
			name = fmt.Sprintf("%s %s %d", first, last, i) // digits are not part of a name key: duplicates
		}
		phone := fmt.Sprintf("+38067%07d", i)
		if i%50 == 0 {
			phone = "+380441234567"
		}
		emps = append(emps, Employee{ID: int64(i + 1), FullName: name, Email: fmt.Sprintf("emp%d@acme.example", i), Phones: []string{phone}})
		u := CRMUser{ID: fmt.Sprintf("u%06d", i), Active: i%97 != 0}
		switch r := i % 20; {
		case r < 12:
			u.Email = fmt.Sprintf(" Emp%d@ACME.example", i)
			u.Name = name
		case r < 16:
			u.Phones = []string{fmt.Sprintf("067 %03d %02d %02d", i/10000, i/100%100, i%100), "n/a"}
		case r < 19:
			u.Name = Transliterate(name)
		default:
			u.Name, u.Email = fmt.Sprintf("Stranger %d", i), fmt.Sprintf("s%d@crm.example", i)
		}
		users = append(users, u)
	}
	return users, emps
}

func BenchmarkMatch(b *testing.B) {
	users, emps := syntheticAccount(10_000)
	existing := []Link{manual(users[1].ID, emps[2].ID), auto(users[3].ID, emps[3].ID, RuleEmail)}
	b.ReportAllocs()
	for b.Loop() {
		Match(users, emps, existing, "UA")
	}
}

// TestMatch_Linear checks that Match's work grows linearly with the account:
// four times the users and employees cost about four times the allocations
// (a nested loop would cost sixteen). Allocations are counted instead of time
// so the test does not depend on the machine.
func TestMatch_Linear(t *testing.T) {
	allocs := func(n int) float64 {
		users, emps := syntheticAccount(n)
		return testing.AllocsPerRun(1, func() { Match(users, emps, nil, "UA") })
	}
	small, large := allocs(1000), allocs(4000)
	if ratio := large / small; ratio > 5 {
		t.Errorf("allocations grew %.1f× for 4× the input (%.0f → %.0f), want about 4×", ratio, small, large)
	} else {
		t.Logf("allocations %.0f → %.0f (%.2f×) for 4× the input", small, large, ratio)
	}
}
