package mapping

import (
	"cmp"
	"fmt"
	"slices"
)

// Rules by which a CRM user is linked to an employee, strongest first.
// RuleManual is never produced by Match; it is the key under which
// Result.Counts counts manual links.
const (
	RuleManual = "manual"
	RuleEmail  = "email"
	RulePhone  = "phone"
	RuleName   = "name"
)

// Confidence of a link made by each automatic rule.
const (
	ConfidenceEmail = 1.0
	ConfidencePhone = 0.9
	ConfidenceName  = 0.7
)

// Reasons given in Unlink.Reason. A link that no longer matches gives
// "no longer matches by <rule>".
const (
	ReasonDeactivated     = "deactivated in CRM"
	ReasonDeleted         = "deleted in CRM"
	ReasonEmployeeDeleted = "employee deleted"
	ReasonManual          = "replaced by a manual link"
	ReasonDuplicate       = "duplicate link"
)

// CRMUser is a user of a linked CRM account, as its connector lists it.
type CRMUser struct {
	ID     string
	Name   string
	Email  string
	Phones []string // as the CRM stores them; normalised with the region
	Active bool
}

// Employee is a PBX employee as the matcher sees it.
type Employee struct {
	ID       int64
	FullName string
	Email    string
	Phones   []string // main and other contacts and mobile, already E.164
}

// Link ties a CRM user to an employee. Manual links were chosen by an admin;
// the others were made by Match under Rule with Confidence.
type Link struct {
	CRMUserID  string
	EmployeeID int64
	Manual     bool
	Rule       string
	Confidence float64
}

// Ambiguity is a CRM user that a rule could not link because the match was
// not one to one: the user matched several employees (EmployeeIDs), or its
// only match (EmployeeIDs[0]) was also matched by other CRM users. Reason
// says which, for the admin. EmployeeIDs holds at most 10 IDs.
type Ambiguity struct {
	CRMUserID   string
	Rule        string
	Reason      string
	EmployeeIDs []int64
}

// Unlink is an automatic link that Match removed, and why.
type Unlink struct {
	CRMUserID  string
	EmployeeID int64
	Reason     string
}

// Result is the outcome of Match. Every slice is sorted by CRM user ID (as
// strings), then by employee ID or rule strength.
type Result struct {
	// Links is the full set of links the account should have after this
	// sync: manual links, kept automatic links and new ones.
	Links []Link
	// Ambiguous lists users a rule could not link; a user may appear once
	// per rule.
	Ambiguous []Ambiguity
	// Unmatched lists the active CRM users left without a link, including
	// the ambiguous ones.
	Unmatched []string
	// Unlinked lists the automatic links in existing that are not in Links.
	Unlinked []Unlink
	// Counts counts Links by rule: RuleManual for manual links, otherwise
	// the link's Rule. The four rules are always present.
	Counts map[string]int
}

// Match computes the links between the users of one CRM account and the
// employees of its tenant, given the account's existing links. region is the
// tenant's default region for CRM phone numbers written without a country
// code. It runs in O(n log n) using hash indexes.
//
// In order:
//
//  1. Manual links are kept exactly as they are, whatever the state of
//     their user or employee; both are then taken. Keeping manual links
//     unique is the caller's job.
//  2. An existing automatic link is kept, with its rule and confidence, when
//     its user is still listed and active, its employee still exists,
//     neither is taken, and the pair still matches under its rule. Otherwise
//     it is reported in Unlinked: ReasonDeleted, ReasonDeactivated,
//     ReasonEmployeeDeleted, ReasonManual, ReasonDuplicate, or "no longer
//     matches by <rule>" unless step 3 links the same pair again.
//  3. The active users and employees still free are matched by email
//     (normalised, ConfidenceEmail), then by phone (E.164, unparseable
//     numbers ignored, ConfidencePhone), then by NameKey (ConfidenceName).
//     Under each rule a user is linked only when it matches exactly one
//     free employee and that employee matches no other free user; every
//     other user that matched someone is reported in Ambiguous and no one
//     involved is linked by that rule.
//
// A user and an employee that matched under a rule but were left unlinked as
// ambiguous are never linked to each other by a weaker rule: evidence that
// could not decide is not overruled by weaker evidence. Each may still be
// linked to someone else by a weaker rule. So each CRM user gets at most one
// employee and each employee at most one CRM user, apart from manual links.
func Match(users []CRMUser, employees []Employee, existing []Link, region string) Result {
	m := newMatcher(users, employees, region)
	m.keepManual(existing)
	stale := m.keepAuto(existing)
	for _, rule := range []string{RuleEmail, RulePhone, RuleName} {
		m.matchRule(rule)
	}
	for _, l := range stale {
		u, e := m.userIdx[l.CRMUserID], m.empIdx[l.EmployeeID]
		if m.userLink[u] != e {
			m.unlink(l, staleReason(l.Rule))
		}
	}
	return m.result()
}

// matcher holds the indexes and state of one Match call. Users and
// employees are referred to by their index in users and emps.
type matcher struct {
	region   string
	users    []CRMUser
	uKeys    []matchKeys
	userIdx  map[string]int
	emps     []Employee
	eKeys    []matchKeys
	empIdx   map[int64]int
	userLink []int  // employee index linked to each user, -1 if none
	empLink  []bool // whether each employee is taken
	manualU  map[string]bool
	manualE  map[int64]bool
	res      Result
}

func newMatcher(users []CRMUser, employees []Employee, region string) *matcher {
	m := &matcher{
		region:  region,
		userIdx: make(map[string]int, len(users)),
		empIdx:  make(map[int64]int, len(employees)),
		manualU: map[string]bool{},
		manualE: map[int64]bool{},
	}
	for _, u := range users {
		if _, dup := m.userIdx[u.ID]; !dup {
			m.userIdx[u.ID] = len(m.users)
			m.users = append(m.users, u)
		}
	}
	// Sorted users make every list below come out in CRM user ID order.
	slices.SortFunc(m.users, func(a, b CRMUser) int { return cmp.Compare(a.ID, b.ID) })
	for i, u := range m.users {
		m.userIdx[u.ID] = i
	}
	for _, e := range employees {
		if _, dup := m.empIdx[e.ID]; !dup {
			m.empIdx[e.ID] = len(m.emps)
			m.emps = append(m.emps, e)
		}
	}
	slices.SortFunc(m.emps, func(a, b Employee) int { return cmp.Compare(a.ID, b.ID) })
	for i, e := range m.emps {
		m.empIdx[e.ID] = i
	}
	m.uKeys = make([]matchKeys, len(m.users))
	m.eKeys = make([]matchKeys, len(m.emps))
	m.userLink = make([]int, len(m.users))
	for i := range m.userLink {
		m.userLink[i] = -1
	}
	m.empLink = make([]bool, len(m.emps))
	m.res.Counts = map[string]int{RuleManual: 0, RuleEmail: 0, RulePhone: 0, RuleName: 0}
	return m
}

func sortedLinks(existing []Link) []Link {
	links := slices.Clone(existing)
	slices.SortStableFunc(links, func(a, b Link) int {
		return cmp.Or(cmp.Compare(a.CRMUserID, b.CRMUserID), cmp.Compare(a.EmployeeID, b.EmployeeID))
	})
	return links
}

// keepManual applies step 1.
func (m *matcher) keepManual(existing []Link) {
	for _, l := range sortedLinks(existing) {
		if !l.Manual {
			continue
		}
		m.res.Links = append(m.res.Links, l)
		m.res.Counts[RuleManual]++
		m.manualU[l.CRMUserID], m.manualE[l.EmployeeID] = true, true
		u, uok := m.userIdx[l.CRMUserID]
		e, eok := m.empIdx[l.EmployeeID]
		if uok && eok {
			m.userLink[u] = e
		} else if uok {
			m.userLink[u] = len(m.emps) // taken, by an employee we do not know
		}
		if eok {
			m.empLink[e] = true
		}
	}
}

// keepAuto applies step 2 and returns the links that no longer match, whose
// fate depends on step 3.
func (m *matcher) keepAuto(existing []Link) []Link {
	var stale []Link
	for _, l := range sortedLinks(existing) {
		if l.Manual {
			continue
		}
		u, uok := m.userIdx[l.CRMUserID]
		e, eok := m.empIdx[l.EmployeeID]
		switch {
		case !uok:
			m.unlink(l, ReasonDeleted)
		case !m.users[u].Active:
			m.unlink(l, ReasonDeactivated)
		case !eok:
			m.unlink(l, ReasonEmployeeDeleted)
		case m.manualU[l.CRMUserID] || m.manualE[l.EmployeeID]:
			m.unlink(l, ReasonManual)
		case m.userLink[u] >= 0 || m.empLink[e]:
			m.unlink(l, ReasonDuplicate)
		case !m.stillMatches(u, e, l.Rule):
			stale = append(stale, l)
		default:
			l.Manual = false
			m.link(u, e, l)
		}
	}
	return stale
}

func (m *matcher) link(u, e int, l Link) {
	m.userLink[u], m.empLink[e] = e, true
	m.res.Links = append(m.res.Links, l)
	m.res.Counts[l.Rule]++
}

func (m *matcher) unlink(l Link, reason string) {
	m.res.Unlinked = append(m.res.Unlinked, Unlink{CRMUserID: l.CRMUserID, EmployeeID: l.EmployeeID, Reason: reason})
}

func staleReason(rule string) string {
	switch rule {
	case RuleEmail, RulePhone, RuleName:
		return "no longer matches by " + rule
	}
	return fmt.Sprintf("no longer matches (unknown rule %q)", rule)
}

func (m *matcher) result() Result {
	r := m.res
	for i, u := range m.users {
		if u.Active && m.userLink[i] < 0 {
			r.Unmatched = append(r.Unmatched, u.ID)
		}
	}
	slices.SortStableFunc(r.Links, func(a, b Link) int {
		return cmp.Or(cmp.Compare(a.CRMUserID, b.CRMUserID), cmp.Compare(a.EmployeeID, b.EmployeeID))
	})
	slices.SortStableFunc(r.Unlinked, func(a, b Unlink) int {
		return cmp.Or(cmp.Compare(a.CRMUserID, b.CRMUserID), cmp.Compare(a.EmployeeID, b.EmployeeID))
	})
	slices.SortStableFunc(r.Ambiguous, func(a, b Ambiguity) int {
		return cmp.Or(cmp.Compare(a.CRMUserID, b.CRMUserID), cmp.Compare(ruleRank(a.Rule), ruleRank(b.Rule)))
	})
	return r
}

func ruleRank(rule string) int {
	return slices.Index([]string{RuleManual, RuleEmail, RulePhone, RuleName}, rule)
}
