// Package jobstest is the test kit of package jobs: Scenario, a large CRM
// user sync with a known outcome, shared by the jobs integration tests and
// the bench/sync benchmark.
package jobstest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store"
)

// Scenario is a CRM account with N users and a tenant with N employees.
// User and employee i pair up by i mod 20:
//
//	0–11   email: the user's email is the employee's, in other case
//	12–15  name: "Ivan <w>" in the CRM, "Иван <w in Cyrillic>" in the PBX
//	16–17  ambiguous: users 16 and 17 both carry employee 16's name
//	18     unmatched: nobody has the user's email or name
//	19     inactive: the employee's email, but deactivated in the CRM
//
// so for N = 10,000: 6,000 linked by email, 2,000 by name, 1,000
// ambiguous, 1,500 unmatched (the ambiguous included), 500 inactive. Every
// user has an email (amoCRM users have no phones). N must be a multiple of
// 20 and at most 27,000.
type Scenario struct {
	N int
}

// Want is what a first sync of a Scenario reports.
type Want struct {
	Fetched, Active, Email, Name, Ambiguous, Unmatched int
}

// Want returns the expected counts of a first sync.
func (s Scenario) Want() Want {
	k := s.N / 20
	return Want{Fetched: s.N, Active: s.N - k, Email: 12 * k, Name: 4 * k, Ambiguous: 2 * k, Unmatched: 3 * k}
}

// syllables spell a unique, fold-proof name word per index in both scripts.
var (
	latinC    = []string{"b", "d", "l", "m", "n", "p", "r", "s", "t", "v"}
	cyrillicC = []string{"б", "д", "л", "м", "н", "п", "р", "с", "т", "в"}
	latinV    = []string{"a", "o", "u"}
	cyrillicV = []string{"а", "о", "у"}
)

// word returns the name word of index i in Latin and Cyrillic, capitalised.
func word(i int) (latin, cyrillic string) {
	var l, c strings.Builder
	for range 3 {
		s := i % 30
		i /= 30
		l.WriteString(latinC[s/3] + latinV[s%3])
		c.WriteString(cyrillicC[s/3] + cyrillicV[s%3])
	}
	lw, cw := []rune(l.String()), []rune(c.String())
	return strings.ToUpper(string(lw[:1])) + string(lw[1:]), strings.ToUpper(string(cw[:1])) + string(cw[1:])
}

// EmployeeEmail is employee i's email.
func EmployeeEmail(i int) string { return fmt.Sprintf("emp%05d@corp.example", i) }

// Users returns the CRM's users; user i has id 100000+i.
func (s Scenario) Users() []connectors.User {
	users := make([]connectors.User, s.N)
	for i := range users {
		lat, _ := word(i)
		u := connectors.User{ID: fmt.Sprint(100000 + i), Active: true,
			Email: fmt.Sprintf("crm%05d@other.example", i), Name: "Petr " + lat}
		switch r := i % 20; {
		case r < 12:
			u.Email = strings.ToUpper(EmployeeEmail(i)[:1]) + EmployeeEmail(i)[1:]
		case r < 16:
			u.Name = "Ivan " + lat
		case r == 16:
			u.Name = "Ivan " + lat
		case r == 17:
			prev, _ := word(i - 1)
			u.Name = "IVAN " + strings.ToUpper(prev)
		case r == 18:
			u.Name = "Zed " + lat
		case r == 19:
			u.Email, u.Active = EmployeeEmail(i), false
		}
		users[i] = u
	}
	return users
}

// SeedEmployees writes the scenario's employees straight into the store
// (multi-row inserts: creating 10,000 through the directory API would take
// minutes), with logins prefix_emp<i> and extensions 10000+i.
func (s Scenario) SeedEmployees(ctx context.Context, db *store.DB, tenantID int64, prefix string) error {
	sqlDB := db.SQL()
	now := time.Now().UTC()
	const chunk = 1000
	for start := 0; start < s.N; start += chunk {
		end := min(start+chunk, s.N)
		var q strings.Builder
		var args []any
		q.WriteString(`INSERT INTO employees (tenant_id, email, full_name, name_key, login, extension, created_at, updated_at) VALUES `)
		for i := start; i < end; i++ {
			if i > start {
				q.WriteString(", ")
			}
			_, cyr := word(i)
			name := "Иван " + cyr
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, tenantID, EmployeeEmail(i), name, mapping.NormalizeName(name),
				fmt.Sprintf("%s_emp%05d", prefix, i), fmt.Sprint(10000+i), now, now)
		}
		q.WriteString(" RETURNING id, extension")
		var rows []struct {
			ID        int64  `db:"id"`
			Extension string `db:"extension"`
		}
		if err := sqlDB.SelectContext(ctx, &rows, sqlDB.Rebind(q.String()), args...); err != nil {
			return fmt.Errorf("seed employees: %w", err)
		}
		q.Reset()
		args = args[:0]
		q.WriteString(`INSERT INTO extensions (tenant_id, extension, owner_kind, owner_id) VALUES `)
		for i, r := range rows {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, 'employee', ?)")
			args = append(args, tenantID, r.Extension, r.ID)
		}
		if _, err := sqlDB.ExecContext(ctx, sqlDB.Rebind(q.String()), args...); err != nil {
			return fmt.Errorf("seed extensions: %w", err)
		}
	}
	return nil
}
