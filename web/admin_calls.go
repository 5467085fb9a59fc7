package web

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/telephony"
)

// recentCalls is how many calls the calls page shows.
const recentCalls = 50

// callRow is one call on the calls page: what the PBX told us, where the
// router sent it and why, and how far its events got into the CRM.
type callRow struct {
	jobs.CallStatus
	Decision   *telephony.Decision
	DecidedAt  time.Time
	AnsweredBy string // the employee's name
	RoutedTo   string // the employee the router chose
	Account    string // the CRM account it went to
}

type callsView struct {
	Rows     []callRow
	Filtered bool // a department head sees their department's calls
}

// handleCallsPage serves GET /admin/calls: the latest calls with their
// routing decision and each event's push-back state. A department head
// sees the calls their department's employees answered or were routed.
func (s *Server) handleCallsPage(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r)
	calls, err := s.Admin.Store.RecentCalls(r.Context(), v.Tenant.ID, recentCalls)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	all, err := s.Directory.Employees(r.Context(), v.Tenant.ID, telephony.EmployeeFilter{})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	names := map[int64]string{}
	for _, e := range all {
		names[e.ID] = e.FullName
	}
	var visible []int64
	if !v.Admin() {
		emps, err := s.visibleEmployees(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		visible = employeeIDs(emps)
	}
	cv := callsView{Filtered: !v.Admin()}
	accounts := map[int64]string{}
	for _, c := range calls {
		row := callRow{CallStatus: c, AnsweredBy: names[c.AnsweredByEmployee]}
		if s.Routing.Decisions != nil {
			d, at, err := s.Routing.Decisions.DecisionByCallID(r.Context(), v.Tenant.ID, c.CallID)
			switch {
			case err == nil:
				row.Decision, row.DecidedAt = &d, at
				row.RoutedTo = names[d.EmployeeID]
			case !telephony.IsNotFound(err):
				s.pageError(w, r, err)
				return
			}
		}
		if cv.Filtered && !slices.Contains(visible, c.AnsweredByEmployee) &&
			(row.Decision == nil || !slices.Contains(visible, row.Decision.EmployeeID)) {
			continue
		}
		if id := c.CRM.AccountID; id != 0 {
			if _, ok := accounts[id]; !ok && s.Accounts != nil {
				if a, err := s.Accounts.Account(r.Context(), v.Tenant.ID, id); err == nil {
					accounts[id] = displayName(a.Connector) + " #" + strconv.FormatInt(a.ID, 10)
				}
			}
			row.Account = accounts[id]
		}
		cv.Rows = append(cv.Rows, row)
	}
	s.render(w, r, http.StatusOK, "calls", pageData{Title: "Recent calls", Nav: "calls", Page: cv})
}
