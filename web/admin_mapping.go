package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/telephony"
)

// The mapping page (the integration's "Employees" section): every CRM user
// of an account beside the PBX employee it is linked to, with how
// (matched by email 100%, phone 90% or name 70%, or manual), or why not
// (ambiguous with the reason, unmatched, deactivated or deleted in the
// CRM), and a select that sets or clears a manual link through the same
// Accounts interface as the API's PUT and DELETE …/links.

// mappingRow is one CRM user on the page.
type mappingRow struct {
	Link
	Label    string // what the state means, for people
	Class    string // ok | manual | warn | muted
	Selected string // the select's value: auto, none or an employee id
}

type mappingView struct {
	Account   accountView
	Rows      []mappingRow
	Employees []telephony.Employee
	Counts    []mappingCount
	ReadOnly  bool
	Filtered  bool // a department head sees only their department's rows
}

type mappingCount struct {
	Label string
	N     int
}

// describedLinks returns the account's links with their states; ambiguous
// reasons come from the last succeeded sync, as in the API.
func (s *Server) describedLinks(ctx context.Context, tenantID, accountID int64) ([]Link, error) {
	links, err := s.Accounts.AccountLinks(ctx, tenantID, accountID)
	if err != nil {
		return nil, err
	}
	ambiguous := map[string]string{}
	report, err := s.Accounts.LastSyncReport(ctx, tenantID, accountID)
	switch {
	case err == nil:
		var rep jobs.SyncReport
		if err := json.Unmarshal(report, &rep); err != nil {
			return nil, err
		}
		for _, a := range rep.Ambiguous {
			if ambiguous[a.CRMUserID] == "" {
				ambiguous[a.CRMUserID] = a.Reason
			}
		}
	case !telephony.IsNotFound(err):
		return nil, err
	}
	for i := range links {
		links[i].describe(ambiguous)
	}
	return links, nil
}

// mappingLabel says what a link's state means.
func mappingLabel(l Link) (label, class string) {
	switch l.State {
	case "linked":
		if l.Manual {
			label, class = "Manual link", "manual"
		} else {
			label, class = fmt.Sprintf("Matched by %s (%.0f%%)", l.Rule, l.Confidence*100), "ok"
		}
		if l.CRMStatus != "active" {
			label += " — " + l.CRMStatus + " in the CRM"
			class = "warn"
		}
	case "no_employee":
		label, class = "Manual: no employee", "manual"
	case "ambiguous":
		label, class = "Ambiguous: "+l.Reason, "warn"
	case "unmatched":
		label, class = "Unmatched", "warn"
	case "deactivated":
		label, class = "Deactivated in the CRM", "muted"
	case "deleted":
		label, class = "Deleted in the CRM", "muted"
	default:
		label, class = titleWord(l.State), "muted"
	}
	return label, class
}

// handleMapping serves GET /admin/accounts/{id}/mapping.
func (s *Server) handleMapping(w http.ResponseWriter, r *http.Request) {
	a, err := s.adminAccount(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := viewerFrom(r)
	links, err := s.describedLinks(r.Context(), v.Tenant.ID, a.ID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	emps, err := s.visibleEmployees(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	mv := mappingView{Account: accountView{Account: a, DisplayName: displayName(a.Connector)}, Employees: emps,
		ReadOnly: !v.Admin(), Filtered: !v.Admin()}
	visible := employeeIDs(emps)
	counts := map[string]int{}
	for _, l := range links {
		if mv.Filtered && (l.EmployeeID == nil || !slices.Contains(visible, *l.EmployeeID)) {
			continue
		}
		row := mappingRow{Link: l, Selected: "auto"}
		row.Label, row.Class = mappingLabel(l)
		switch {
		case l.Manual && l.EmployeeID != nil:
			row.Selected = strconv.FormatInt(*l.EmployeeID, 10)
		case l.Manual:
			row.Selected = "none"
		}
		counts[l.State]++
		mv.Rows = append(mv.Rows, row)
	}
	for _, st := range []struct{ state, label string }{
		{"linked", "linked"}, {"no_employee", "no employee"}, {"ambiguous", "ambiguous"},
		{"unmatched", "unmatched"}, {"deactivated", "deactivated"}, {"deleted", "deleted"},
	} {
		if counts[st.state] > 0 {
			mv.Counts = append(mv.Counts, mappingCount{Label: st.label, N: counts[st.state]})
		}
	}
	s.render(w, r, http.StatusOK, "mapping", pageData{Title: "Employees mapping", Nav: "integrations", Page: mv})
}

// handleSetMapping serves POST /admin/accounts/{id}/mapping with
// crm_user_id and employee: an employee id (a manual link), "none" (a
// manual "no employee") or "auto" (drop the manual choice: the next sync
// matches the user automatically again).
func (s *Server) handleSetMapping(w http.ResponseWriter, r *http.Request) {
	a, err := s.adminAccount(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	tenantID := tenantFrom(r).ID
	user := r.PostForm.Get("crm_user_id")
	choice := strings.TrimSpace(r.PostForm.Get("employee"))
	back := fmt.Sprintf("/admin/accounts/%d/mapping", a.ID)
	if user == "" {
		s.pageError(w, r, telephony.Errorf(telephony.EInvalid, "crm_user_id", "choose a CRM user"))
		return
	}
	var msg string
	switch choice {
	case "auto":
		err = s.Accounts.ClearManualLink(r.Context(), tenantID, a.ID, user)
		if telephony.IsNotFound(err) {
			err = nil // nothing manual to clear: already automatic
		}
		msg = "is matched automatically again from the next sync"
	case "none":
		_, err = s.Accounts.SetManualLink(r.Context(), tenantID, a.ID, user, nil)
		msg = "is linked to no employee"
	default:
		id, perr := strconv.ParseInt(choice, 10, 64)
		if perr != nil || id <= 0 {
			s.pageError(w, r, telephony.Errorf(telephony.EInvalid, "employee", "choose an employee, no employee, or automatic"))
			return
		}
		var l Link
		l, err = s.Accounts.SetManualLink(r.Context(), tenantID, a.ID, user, &id)
		msg = "is linked to " + l.EmployeeName
	}
	if err != nil {
		var e *telephony.Error
		if errors.As(err, &e) && e.Code != telephony.EInternal && e.Code != telephony.ENotFound {
			s.setFlash(w, "error", e.Error())
			http.Redirect(w, r, back, http.StatusSeeOther)
			return
		}
		s.pageError(w, r, err)
		return
	}
	s.changed(r)
	s.setFlash(w, "ok", fmt.Sprintf("CRM user %s %s.", userName(r.Context(), s, tenantID, a.ID, user), msg))
	http.Redirect(w, r, back+"#u-"+user, http.StatusSeeOther)
}

// userName names a CRM user for a message, falling back to its id.
func userName(ctx context.Context, s *Server, tenantID, accountID int64, id string) string {
	links, err := s.Accounts.AccountLinks(ctx, tenantID, accountID)
	if err == nil {
		for _, l := range links {
			if l.CRMUserID == id && l.Name != "" {
				return fmt.Sprintf("%q", l.Name)
			}
		}
	}
	return id
}
