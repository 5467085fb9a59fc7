package mapping

import (
	"fmt"
	"slices"
	"strings"
)

// maxListed caps the IDs listed in one Ambiguity.
const maxListed = 10

// matchKeys holds what a CRM user or an employee is matched by, per rule
// (see ruleIndex), computed on first use: most users are linked by email and
// never need the costlier phone and name keys.
type matchKeys struct {
	keys [3][]string // email (at most one), E.164 phones (no duplicates), NameKey (at most one)
	done [3]bool
}

func ruleIndex(rule string) int {
	switch rule {
	case RuleEmail:
		return 0
	case RulePhone:
		return 1
	case RuleName:
		return 2
	}
	return -1
}

// userKeys returns the keys of user u under rule.
func (m *matcher) userKeys(u int, rule string) []string {
	i := ruleIndex(rule)
	if i < 0 || !m.users[u].Active {
		return nil
	}
	k := &m.uKeys[u]
	if !k.done[i] {
		usr := m.users[u]
		k.keys[i], k.done[i] = keysOf(rule, usr.Name, usr.Email, usr.Phones, false, m.region), true
	}
	return k.keys[i]
}

// empKeys returns the keys of employee e under rule.
func (m *matcher) empKeys(e int, rule string) []string {
	i := ruleIndex(rule)
	if i < 0 {
		return nil
	}
	k := &m.eKeys[e]
	if !k.done[i] {
		emp := m.emps[e]
		k.keys[i], k.done[i] = keysOf(rule, emp.FullName, emp.Email, emp.Phones, true, m.region), true
	}
	return k.keys[i]
}

// keysOf computes the keys under rule. Employee phones are E.164 already;
// others are normalised rather than missed. Invalid values give no key.
func keysOf(rule, name, email string, phones []string, trusted bool, region string) []string {
	switch rule {
	case RuleEmail:
		if e, err := NormalizeEmail(email); err == nil {
			return []string{e}
		}
	case RuleName:
		if n := NameKey(name); n != "" {
			return []string{n}
		}
	case RulePhone:
		var out []string
		for _, p := range phones {
			if !trusted || !isE164(p) {
				var err error
				if p, err = E164(p, region); err != nil {
					continue
				}
			}
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		return out
	}
	return nil
}

func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func sharesKey(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func (m *matcher) stillMatches(u, e int, rule string) bool {
	switch rule {
	case RuleEmail, RulePhone, RuleName:
		return sharesKey(m.userKeys(u, rule), m.empKeys(e, rule))
	}
	return false
}

// blocked reports whether user u and employee e matched under a rule
// stronger than rule. They are both free, so that match was ambiguous, and
// the weaker rule must not link them.
func (m *matcher) blocked(u, e int, rule string) bool {
	for _, r := range []string{RuleEmail, RulePhone} {
		if r == rule {
			return false
		}
		if m.stillMatches(u, e, r) {
			return true
		}
	}
	return false
}

// matchRule links the free active users and free employees that match one
// to one under rule, and reports the others that matched as ambiguous.
// Decisions are taken on the state before the rule, so order does not matter.
func (m *matcher) matchRule(rule string) {
	empBy := map[string][]int{}
	for e := range m.emps {
		if !m.empLink[e] {
			for _, k := range m.empKeys(e, rule) {
				empBy[k] = append(empBy[k], e)
			}
		}
	}
	userBy := map[string][]int{}
	for u := range m.users {
		if m.userLink[u] < 0 && m.users[u].Active {
			for _, k := range m.userKeys(u, rule) {
				if len(empBy[k]) > 0 {
					userBy[k] = append(userBy[k], u)
				}
			}
		}
	}
	type pair struct{ u, e int }
	var links []pair
	var cands, claimers []int
	var subject []string
	for u := range m.users {
		if m.userLink[u] >= 0 || !m.users[u].Active {
			continue
		}
		cands, subject = cands[:0], subject[:0]
		for _, k := range m.userKeys(u, rule) {
			found := false
			for _, e := range empBy[k] {
				if len(cands) > maxListed {
					break
				}
				if m.blocked(u, e, rule) {
					continue
				}
				found = true
				if !slices.Contains(cands, e) {
					cands = append(cands, e)
				}
			}
			if found {
				subject = append(subject, k)
			}
		}
		switch len(cands) {
		case 0:
			continue
		case 1:
			claimers = m.claimers(claimers[:0], cands[0], rule, userBy)
			if len(claimers) <= 1 { // u itself
				links = append(links, pair{u, cands[0]})
				continue
			}
			m.ambiguous(u, rule, cands, claimers, subject)
		default:
			m.ambiguous(u, rule, cands, nil, subject)
		}
	}
	conf := map[string]float64{RuleEmail: ConfidenceEmail, RulePhone: ConfidencePhone, RuleName: ConfidenceName}[rule]
	for _, p := range links {
		m.link(p.u, p.e, Link{CRMUserID: m.users[p.u].ID, EmployeeID: m.emps[p.e].ID, Rule: rule, Confidence: conf})
	}
}

// claimers appends to dst the free users matching employee e under rule,
// up to maxListed+1.
func (m *matcher) claimers(dst []int, e int, rule string, userBy map[string][]int) []int {
	for _, k := range m.empKeys(e, rule) {
		for _, u := range userBy[k] {
			if len(dst) > maxListed {
				return dst
			}
			if !m.blocked(u, e, rule) && !slices.Contains(dst, u) {
				dst = append(dst, u)
			}
		}
	}
	return dst
}

// ambiguous reports user u: it matched the employees cands under rule by
// the keys in subject or, when claimers is set, its only match was also
// matched by these users.
func (m *matcher) ambiguous(u int, rule string, cands, claimers []int, subject []string) {
	what := rule + " " + subject[0]
	if len(subject) > 1 {
		what = rule + "s " + strings.Join(subject, ", ")
	}
	a := Ambiguity{CRMUserID: m.users[u].ID, Rule: rule}
	for _, e := range cands[:min(len(cands), maxListed)] {
		a.EmployeeIDs = append(a.EmployeeIDs, m.emps[e].ID)
	}
	slices.Sort(a.EmployeeIDs)
	if claimers == nil {
		ids := make([]string, len(a.EmployeeIDs))
		for i, id := range a.EmployeeIDs {
			ids[i] = fmt.Sprint(id)
		}
		a.Reason = listReason("employees", ids, len(cands) > maxListed) + " " + what
	} else {
		ids := make([]string, 0, len(claimers))
		for _, c := range claimers[:min(len(claimers), maxListed)] {
			ids = append(ids, m.users[c].ID)
		}
		slices.Sort(ids)
		a.Reason = fmt.Sprintf("%s employee %d by %s",
			listReason("CRM users", ids, len(claimers) > maxListed), a.EmployeeIDs[0], what)
	}
	m.res.Ambiguous = append(m.res.Ambiguous, a)
}

// listReason starts an ambiguity reason: "employees 3 and 7 both match",
// "employees 3, 7 and 9 all match", "more than 10 employees match".
func listReason(noun string, ids []string, more bool) string {
	switch {
	case more:
		return fmt.Sprintf("more than %d %s (%s, …) match", maxListed, noun, strings.Join(ids, ", "))
	case len(ids) == 2:
		return fmt.Sprintf("%s %s and %s both match", noun, ids[0], ids[1])
	}
	return fmt.Sprintf("%s %s and %s all match", noun, strings.Join(ids[:len(ids)-1], ", "), ids[len(ids)-1])
}
