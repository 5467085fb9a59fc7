package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/telephony"
)

// Accounts is what the server needs of a tenant's linked CRM accounts, the
// links of their users to employees, and their sync runs. Every method is
// scoped to the tenant given first: another tenant's account is ENotFound.
type Accounts interface {
	Accounts(ctx context.Context, tenantID int64) ([]Account, error)
	Account(ctx context.Context, tenantID, id int64) (Account, error)
	// SyncRuns returns the account's latest runs, newest first, at most limit.
	SyncRuns(ctx context.Context, tenantID, accountID int64, limit int) ([]SyncRun, error)
	// LastSyncReport returns the report of the latest succeeded run, or
	// ENotFound when there is none.
	LastSyncReport(ctx context.Context, tenantID, accountID int64) (json.RawMessage, error)
	// AccountLinks lists every CRM user of the account with its link.
	AccountLinks(ctx context.Context, tenantID, accountID int64) ([]Link, error)
	// SetManualLink links a CRM user to an employee by hand (nil: "no
	// employee"). Unknown users or employees are EInvalid naming the
	// field; an employee manually linked to another user is EConflict
	// naming that user.
	SetManualLink(ctx context.Context, tenantID, accountID int64, crmUserID string, employeeID *int64) (Link, error)
	// ClearManualLink removes a user's manual link; ENotFound when it has
	// none.
	ClearManualLink(ctx context.Context, tenantID, accountID int64, crmUserID string) error
}

// Syncer starts on-demand CRM user syncs; jobs.Enqueuer implements it.
type Syncer interface {
	// EnqueueSync queues a sync of the account and returns its task id.
	EnqueueSync(ctx context.Context, tenantID, accountID int64) (string, error)
}

// Account is a linked CRM account as the API shows it.
type Account struct {
	ID            int64      `json:"id"`
	Connector     string     `json:"connector"`
	Name          string     `json:"name"`
	ExternalID    string     `json:"external_id"`
	BaseURL       string     `json:"base_url"`
	Status        string     `json:"status"` // connected | needs_relink | disconnected
	StatusReason  string     `json:"status_reason,omitempty"`
	SyncIntervalS int64      `json:"sync_interval_s"`
	Provision     bool       `json:"provision"`
	LastSyncAt    *time.Time `json:"last_sync_at"`
	CreatedAt     time.Time  `json:"created_at"`
}

// SyncRun is one user sync of an account; Report is a jobs.SyncReport.
type SyncRun struct {
	ID         int64           `json:"id"`
	AccountID  int64           `json:"account_id"`
	Status     string          `json:"status"` // running | succeeded | failed | skipped
	Report     json.RawMessage `json:"report"`
	Error      string          `json:"error,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
}

// Link is one CRM user of an account and what it is linked to. The store
// fills the fields up to Confidence; the handler derives CRMStatus, State
// and Reason.
type Link struct {
	CRMUserID    string  `json:"crm_user_id"`
	Name         string  `json:"name"`
	Email        string  `json:"email"`
	Active       bool    `json:"-"`
	Gone         bool    `json:"-"`
	Linked       bool    `json:"-"`
	EmployeeID   *int64  `json:"employee_id"`
	EmployeeName string  `json:"employee_name,omitempty"`
	Manual       bool    `json:"manual"`
	Rule         string  `json:"rule,omitempty"`
	Confidence   float64 `json:"confidence,omitempty"`

	// CRMStatus is active, deactivated or deleted (missing from the CRM).
	CRMStatus string `json:"crm_status"`
	// State is linked, no_employee (manual), ambiguous, unmatched,
	// deactivated or deleted.
	State string `json:"state"`
	// Reason says why an ambiguous user was left unlinked.
	Reason string `json:"reason,omitempty"`
}

// describe fills CRMStatus and State; ambiguous holds the reasons of the
// last sync's ambiguous users.
func (l *Link) describe(ambiguous map[string]string) {
	switch {
	case l.Gone:
		l.CRMStatus = "deleted"
	case !l.Active:
		l.CRMStatus = "deactivated"
	default:
		l.CRMStatus = "active"
	}
	switch {
	case l.Linked && l.EmployeeID == nil:
		l.State = "no_employee"
	case l.Linked:
		l.State = "linked"
	case l.CRMStatus != "active":
		l.State = l.CRMStatus
	case ambiguous[l.CRMUserID] != "":
		l.State, l.Reason = "ambiguous", ambiguous[l.CRMUserID]
	default:
		l.State = "unmatched"
	}
}

// accountRoutes registers the accounts API; api wraps each handler in
// authentication.
//
// DELETE …/links/{crm_user_id} removes an admin's manual choice (a link or
// "no employee"): the next sync matches the user automatically again.
func (s *Server) accountRoutes(api func(string, func(http.ResponseWriter, *http.Request))) {
	if s.Accounts == nil {
		return
	}
	api("GET /api/v1/accounts", s.handleListAccounts)
	api("GET /api/v1/accounts/{id}", s.handleGetAccount)
	api("POST /api/v1/accounts/{id}/sync", s.handleSyncAccount)
	api("GET /api/v1/accounts/{id}/sync-runs", s.handleListSyncRuns)
	api("GET /api/v1/accounts/{id}/links", s.handleListLinks)
	api("PUT /api/v1/accounts/{id}/links", s.handlePutLink)
	api("DELETE /api/v1/accounts/{id}/links/{crm_user_id}", s.handleDeleteLink)
}

// account reads {id} and loads the tenant's account.
func (s *Server) account(r *http.Request) (Account, error) {
	id, err := pathID(r, "CRM account")
	if err != nil {
		return Account{}, err
	}
	return s.Accounts.Account(r.Context(), tenantFrom(r).ID, id)
}

// handleListAccounts serves GET /api/v1/accounts.
func (s *Server) handleListAccounts(w http.ResponseWriter, r *http.Request) {
	as, err := s.Accounts.Accounts(r.Context(), tenantFrom(r).ID)
	if err != nil {
		Error(w, r, err)
		return
	}
	if as == nil {
		as = []Account{}
	}
	writeJSON(w, http.StatusOK, as)
}

// handleGetAccount serves GET /api/v1/accounts/{id}.
func (s *Server) handleGetAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.account(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// handleSyncAccount serves POST /api/v1/accounts/{id}/sync: it queues an
// on-demand sync and answers 202 with its task id. Requests within the same
// minute while it is queued or running get the same task.
func (s *Server) handleSyncAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.account(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	if a.Status != connectors.StatusConnected {
		Error(w, r, telephony.Errorf(telephony.EPrecondition, "", "CRM account %d is %s: relink it before syncing", a.ID, a.Status))
		return
	}
	if s.Syncer == nil {
		Error(w, r, telephony.Errorf(telephony.EUnavailable, "", "syncing is not available in this process"))
		return
	}
	id, err := s.Syncer.EnqueueSync(r.Context(), tenantFrom(r).ID, a.ID)
	if err != nil {
		Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/accounts/"+strconv.FormatInt(a.ID, 10)+"/sync-runs")
	writeJSON(w, http.StatusAccepted, map[string]string{"task_id": id, "status": "queued"})
}

// Sync run list sizes.
const (
	defaultSyncRuns = 20
	maxSyncRuns     = 100
)

// handleListSyncRuns serves GET /api/v1/accounts/{id}/sync-runs[?limit=N].
func (s *Server) handleListSyncRuns(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "CRM account")
	if err != nil {
		Error(w, r, err)
		return
	}
	limit := defaultSyncRuns
	if raw := r.URL.Query().Get("limit"); raw != "" {
		if limit, err = strconv.Atoi(raw); err != nil || limit < 1 || limit > maxSyncRuns {
			Error(w, r, telephony.Errorf(telephony.EInvalid, "limit", "must be a whole number from 1 to %d", maxSyncRuns))
			return
		}
	}
	runs, err := s.Accounts.SyncRuns(r.Context(), tenantFrom(r).ID, id, limit)
	if err != nil {
		Error(w, r, err)
		return
	}
	if runs == nil {
		runs = []SyncRun{}
	}
	writeJSON(w, http.StatusOK, runs)
}

// handleListLinks serves GET /api/v1/accounts/{id}/links: every CRM user of
// the account with its link or why it has none (ambiguous reasons come from
// the last succeeded sync).
func (s *Server) handleListLinks(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "CRM account")
	if err != nil {
		Error(w, r, err)
		return
	}
	tenantID := tenantFrom(r).ID
	links, err := s.Accounts.AccountLinks(r.Context(), tenantID, id)
	if err != nil {
		Error(w, r, err)
		return
	}
	ambiguous := map[string]string{}
	report, err := s.Accounts.LastSyncReport(r.Context(), tenantID, id)
	switch {
	case err == nil:
		var rep jobs.SyncReport
		if err := json.Unmarshal(report, &rep); err != nil {
			Error(w, r, err)
			return
		}
		for _, a := range rep.Ambiguous {
			if ambiguous[a.CRMUserID] == "" {
				ambiguous[a.CRMUserID] = a.Reason
			}
		}
	case !telephony.IsNotFound(err):
		Error(w, r, err)
		return
	}
	if links == nil {
		links = []Link{}
	}
	for i := range links {
		links[i].describe(ambiguous)
	}
	writeJSON(w, http.StatusOK, links)
}

// handlePutLink serves PUT /api/v1/accounts/{id}/links with
// {"crm_user_id": "…", "employee_id": 12} (null: "no employee").
func (s *Server) handlePutLink(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "CRM account")
	if err != nil {
		Error(w, r, err)
		return
	}
	var in struct {
		CRMUserID  string          `json:"crm_user_id"`
		EmployeeID json.RawMessage `json:"employee_id"`
	}
	if err := readJSON(w, r, &in); err != nil {
		Error(w, r, err)
		return
	}
	var es telephony.Errors
	if in.CRMUserID == "" {
		es.Add("crm_user_id", "is required")
	}
	var employeeID *int64
	switch raw := bytes.TrimSpace(in.EmployeeID); {
	case len(raw) == 0:
		es.Add("employee_id", `is required: an employee id, or null for "no employee"`)
	case string(raw) == "null":
	default:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n <= 0 {
			es.Add("employee_id", `must be an employee id, or null for "no employee"`)
		}
		employeeID = &n
	}
	if err := es.Err(); err != nil {
		Error(w, r, err)
		return
	}
	l, err := s.Accounts.SetManualLink(r.Context(), tenantFrom(r).ID, id, in.CRMUserID, employeeID)
	if err != nil {
		Error(w, r, err)
		return
	}
	l.describe(nil)
	writeJSON(w, http.StatusOK, l)
}

// handleDeleteLink serves DELETE /api/v1/accounts/{id}/links/{crm_user_id}.
func (s *Server) handleDeleteLink(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "CRM account")
	if err != nil {
		Error(w, r, err)
		return
	}
	if err := s.Accounts.ClearManualLink(r.Context(), tenantFrom(r).ID, id, r.PathValue("crm_user_id")); err != nil {
		Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
