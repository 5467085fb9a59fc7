package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/telephony"
)

// overviewView is the start page.
type overviewView struct {
	Seats      telephony.Seats
	Accounts   []accountView
	Employees  int
	Department string // a department head's department
	Numbers    []telephony.PhoneNumber
}

// handleOverview serves GET /admin/.
func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r)
	ctx := r.Context()
	var ov overviewView
	var err error
	if ov.Seats, err = s.Directory.Seats(ctx, v.Tenant.ID); err != nil {
		s.pageError(w, r, err)
		return
	}
	emps, err := s.visibleEmployees(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	ov.Employees = len(emps)
	if !v.Admin() {
		ov.Department = s.departmentName(r, v.Employee.DepartmentID)
	}
	if ov.Accounts, err = s.accountViews(r, 1); err != nil {
		s.pageError(w, r, err)
		return
	}
	if ov.Numbers, err = s.Directory.Numbers(ctx, v.Tenant.ID); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "overview", pageData{Title: "Overview", Nav: "overview", Page: ov})
}

// accountView is an account as the pages show it.
type accountView struct {
	Account
	DisplayName string
	Runs        []SyncRun
	Report      *jobs.SyncReport // of the latest run that has one
	ReportRun   *SyncRun
	LastError   string
}

// accountViews loads the tenant's accounts with their latest runs.
func (s *Server) accountViews(r *http.Request, runs int) ([]accountView, error) {
	if s.Accounts == nil {
		return nil, nil
	}
	tenantID := viewerFrom(r).Tenant.ID
	as, err := s.Accounts.Accounts(r.Context(), tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]accountView, len(as))
	for i, a := range as {
		av := accountView{Account: a, DisplayName: displayName(a.Connector)}
		if av.Runs, err = s.Accounts.SyncRuns(r.Context(), tenantID, a.ID, runs); err != nil {
			return nil, err
		}
		for j := range av.Runs {
			run := &av.Runs[j]
			if av.LastError == "" && run.Error != "" {
				av.LastError = run.Error
			}
			if av.Report == nil && len(run.Report) > 2 {
				var rep jobs.SyncReport
				if json.Unmarshal(run.Report, &rep) == nil {
					av.Report, av.ReportRun = &rep, run
					if av.LastError == "" && len(rep.Errors) > 0 {
						av.LastError = rep.Errors[len(rep.Errors)-1]
					}
				}
			}
		}
		out[i] = av
	}
	return out, nil
}

// displayName is a connector's name for people.
func displayName(name string) string {
	if info, err := connectors.Lookup(name); err == nil && info.DisplayName != "" {
		return info.DisplayName
	}
	return name
}

// connectorView is a "Connect" button.
type connectorView struct {
	Name, DisplayName string
	Configured        bool // an OAuth app is set up
	PKCE              bool
	Kinds             []string // "deal: Deals", in the default order
}

type integrationsView struct {
	Connectors []connectorView
	Accounts   []accountView
}

// handleIntegrations serves GET /admin/integrations: a Connect button per
// registered connector and every linked account with its status, last sync
// and report, last errors, Sync now and Disconnect.
func (s *Server) handleIntegrations(w http.ResponseWriter, r *http.Request) {
	var v integrationsView
	for _, name := range connectors.Names() {
		info, err := connectors.Lookup(name)
		if err != nil {
			continue
		}
		cv := connectorView{Name: name, DisplayName: displayName(name), PKCE: info.PKCE}
		cv.Configured = s.Admin.OAuth[name] != nil && s.Admin.OAuth[name].ClientID != ""
		for _, k := range connectors.DefaultOrder {
			if d, ok := info.Kinds[k]; ok {
				cv.Kinds = append(cv.Kinds, fmt.Sprintf("%s: %s", k, d))
			}
		}
		v.Connectors = append(v.Connectors, cv)
	}
	var err error
	if v.Accounts, err = s.accountViews(r, 5); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "integrations", pageData{Title: "Integrations", Nav: "integrations", Page: v})
}

// adminAccount loads the tenant's account {id}.
func (s *Server) adminAccount(r *http.Request) (Account, error) {
	if s.Accounts == nil {
		return Account{}, telephony.Errorf(telephony.EUnavailable, "", "CRM accounts are not available in this process")
	}
	id, err := pathID(r, "CRM account")
	if err != nil {
		return Account{}, err
	}
	return s.Accounts.Account(r.Context(), tenantFrom(r).ID, id)
}

// handleAdminSync serves POST /admin/accounts/{id}/sync ("Sync now").
func (s *Server) handleAdminSync(w http.ResponseWriter, r *http.Request) {
	a, err := s.adminAccount(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	switch {
	case a.Status != connectors.StatusConnected:
		s.setFlash(w, "error", fmt.Sprintf("%s account %d is %s: connect it again before syncing.", displayName(a.Connector), a.ID, a.Status))
	case s.Syncer == nil:
		s.setFlash(w, "error", "Syncing is not available in this process.")
	default:
		if _, err := s.Syncer.EnqueueSync(r.Context(), tenantFrom(r).ID, a.ID); err != nil {
			s.pageError(w, r, err)
			return
		}
		s.setFlash(w, "ok", fmt.Sprintf("A sync of %s account %d is queued; reload in a moment to see its report.", displayName(a.Connector), a.ID))
	}
	http.Redirect(w, r, "/admin/integrations", http.StatusSeeOther)
}

// handleDisconnect serves POST /admin/accounts/{id}/disconnect: it revokes
// the tokens at the CRM where the vendor can (TokenRevoker), then deletes
// them here and marks the account disconnected. A failed revocation is
// reported but does not keep the tokens.
func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	a, err := s.adminAccount(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	note := "The CRM has no revocation API: its tokens were deleted here; remove the app in the CRM to revoke them there too."
	if rv, ok := s.Admin.Connectors.(TokenRevoker); ok && a.Status == connectors.StatusConnected {
		switch err := rv.Revoke(r.Context(), a.ID); {
		case errors.Is(err, connectors.ErrNoRevocation):
		case err != nil:
			s.logger().Warn("revoke tokens", "account_id", a.ID, "connector", a.Connector, "err", err)
			note = "The CRM did not confirm the revocation (" + err.Error() + "); the tokens were deleted here anyway."
		default:
			note = "The tokens were revoked at the CRM and deleted here."
		}
	}
	if err := s.Admin.Store.DisconnectAccount(r.Context(), tenantFrom(r).ID, a.ID); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.changed(r)
	s.setFlash(w, "ok", fmt.Sprintf("%s account %d is disconnected. %s", displayName(a.Connector), a.ID, note))
	http.Redirect(w, r, "/admin/integrations", http.StatusSeeOther)
}

// departmentName names department id, "" for none.
func (s *Server) departmentName(r *http.Request, id *int64) string {
	if id == nil {
		return ""
	}
	d, err := s.Directory.Department(r.Context(), tenantFrom(r).ID, *id)
	if err != nil {
		return ""
	}
	return d.Name
}

// visibleEmployees returns the employees the viewer may see: all of the
// tenant's for an administrator, the department's for a department head
// (none without a department).
func (s *Server) visibleEmployees(r *http.Request) ([]telephony.Employee, error) {
	v := viewerFrom(r)
	if v.Admin() {
		return s.Directory.Employees(r.Context(), v.Tenant.ID, telephony.EmployeeFilter{})
	}
	if v.Employee.DepartmentID == nil {
		return nil, nil
	}
	return s.Directory.Employees(r.Context(), v.Tenant.ID, telephony.EmployeeFilter{DepartmentID: v.Employee.DepartmentID})
}

// employeeIDs returns the ids of es.
func employeeIDs(es []telephony.Employee) []int64 {
	ids := make([]int64, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	slices.Sort(ids)
	return ids
}
