package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/telephony"
)

// maxOwnedCounts bounds the CountOwned calls of one sync: each costs CRM
// requests under the account's rate limit.
const maxOwnedCounts = 50

// SyncReport is what one sync run did, stored as the run's JSON report and
// served by GET /api/v1/accounts/{id}/sync-runs. Lists are never null.
type SyncReport struct {
	Trigger string `json:"trigger"` // periodic | on_demand | other
	TaskID  string `json:"task_id,omitempty"`
	// Skipped says why the run did nothing (the account needs relinking).
	Skipped string `json:"skipped,omitempty"`
	// Fetched counts the users the CRM listed, Active the active ones.
	Fetched int `json:"fetched"`
	Active  int `json:"active"`
	// Matched counts the account's automatic links after the run, by rule.
	Matched RuleCounts `json:"matched"`
	// ManualKept counts the manual links, which a sync never changes.
	ManualKept int `json:"manual_kept"`
	// Ambiguous lists the users a rule could not link, with the reason.
	Ambiguous []AmbiguousUser `json:"ambiguous"`
	// Unmatched counts the active users left without a link (ambiguous
	// ones included).
	Unmatched int `json:"unmatched"`
	// Unlinked lists the automatic links this run removed, and why.
	Unlinked []UnlinkedUser `json:"unlinked"`
	// Provisioned counts the employees created for unmatched users;
	// ProvisionErrors lists the users a directory rule refused.
	Provisioned     int              `json:"provisioned"`
	ProvisionErrors []ProvisionError `json:"provision_errors"`
	// OwnedByInactive lists, for users unlinked because they were
	// deactivated or deleted in the CRM, the records they still own.
	OwnedByInactive []OwnedRecords `json:"owned_by_inactive"`
	// Errors lists what went wrong without failing the run (a count the
	// CRM refused), and the run's error when it failed.
	Errors     []string `json:"errors"`
	DurationMS int64    `json:"duration_ms"`
}

// RuleCounts counts links by matching rule.
type RuleCounts struct {
	Email int `json:"email"`
	Phone int `json:"phone"`
	Name  int `json:"name"`
}

// AmbiguousUser is a CRM user a rule could not link.
type AmbiguousUser struct {
	CRMUserID   string  `json:"crm_user_id"`
	Name        string  `json:"name"`
	Rule        string  `json:"rule"`
	Reason      string  `json:"reason"`
	EmployeeIDs []int64 `json:"employee_ids"`
}

// UnlinkedUser is an automatic link a sync removed.
type UnlinkedUser struct {
	CRMUserID  string `json:"crm_user_id"`
	Name       string `json:"name,omitempty"`
	EmployeeID int64  `json:"employee_id"`
	Reason     string `json:"reason"`
}

// ProvisionError is a CRM user no employee could be created for: the field
// and the directory rule it broke.
type ProvisionError struct {
	CRMUserID string `json:"crm_user_id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	Field     string `json:"field,omitempty"`
	Rule      string `json:"rule"`
}

// OwnedRecords is what a deactivated or deleted CRM user still owns.
// Records is nil when the count is unknown, and Note says why.
type OwnedRecords struct {
	CRMUserID string                        `json:"crm_user_id"`
	Name      string                        `json:"name,omitempty"`
	Reason    string                        `json:"reason"`
	Records   map[connectors.EntityKind]int `json:"records"`
	Total     int                           `json:"total"`
	Note      string                        `json:"note,omitempty"`
}

func newReport(trigger, taskID string) *SyncReport {
	return &SyncReport{
		Trigger: trigger, TaskID: taskID,
		Ambiguous: []AmbiguousUser{}, Unlinked: []UnlinkedUser{}, ProvisionErrors: []ProvisionError{},
		OwnedByInactive: []OwnedRecords{}, Errors: []string{},
	}
}

// json encodes r; a report always encodes.
func (r *SyncReport) json() json.RawMessage {
	b, err := json.Marshal(r)
	if err != nil {
		panic("jobs: encode sync report: " + err.Error())
	}
	return b
}

// fill records what mapping.Match decided.
func (r *SyncReport) fill(users []mapping.CRMUser, byID map[string]mapping.CRMUser, res mapping.Result) {
	r.Fetched = len(users)
	for _, u := range users {
		if u.Active {
			r.Active++
		}
	}
	r.Matched = RuleCounts{Email: res.Counts[mapping.RuleEmail], Phone: res.Counts[mapping.RulePhone], Name: res.Counts[mapping.RuleName]}
	r.ManualKept = res.Counts[mapping.RuleManual]
	r.Unmatched = len(res.Unmatched)
	for _, a := range res.Ambiguous {
		r.Ambiguous = append(r.Ambiguous, AmbiguousUser{
			CRMUserID: a.CRMUserID, Name: byID[a.CRMUserID].Name, Rule: a.Rule, Reason: a.Reason,
			EmployeeIDs: slices.Clone(a.EmployeeIDs),
		})
	}
	for _, u := range res.Unlinked {
		r.Unlinked = append(r.Unlinked, UnlinkedUser{
			CRMUserID: u.CRMUserID, Name: byID[u.CRMUserID].Name, EmployeeID: u.EmployeeID, Reason: u.Reason,
		})
	}
}

// countOwned lists what the users unlinked for being deactivated or
// deleted still own, where the connector can count it. A count the CRM
// refuses is reported, not fatal; a rate limit or a cancelled context ends
// the run (it is retried).
func (h *Handler) countOwned(ctx context.Context, conn connectors.Connector, unlinked []mapping.Unlink, byID map[string]mapping.CRMUser, rep *SyncReport) error {
	counter, canCount := conn.(connectors.OwnedCounter)
	counted := 0
	for _, u := range unlinked {
		if u.Reason != mapping.ReasonDeactivated && u.Reason != mapping.ReasonDeleted {
			continue
		}
		o := OwnedRecords{CRMUserID: u.CRMUserID, Name: byID[u.CRMUserID].Name, Reason: u.Reason}
		switch {
		case !canCount:
			o.Note = "this CRM cannot count a user's records: check them in the CRM"
		case counted >= maxOwnedCounts:
			o.Note = fmt.Sprintf("not counted: over %d users left in one sync", maxOwnedCounts)
		default:
			counted++
			recs, err := counter.CountOwned(ctx, u.CRMUserID)
			if err != nil {
				if ctx.Err() != nil || errors.As(err, new(*connectors.RateLimitError)) {
					return fmt.Errorf("count records of CRM user %s: %w", u.CRMUserID, err)
				}
				o.Note = "count failed: " + err.Error()
				rep.Errors = append(rep.Errors, fmt.Sprintf("count records of CRM user %s: %v", u.CRMUserID, err))
				break
			}
			o.Records = recs
			for _, n := range recs {
				o.Total += n
			}
		}
		rep.OwnedByInactive = append(rep.OwnedByInactive, o)
	}
	return nil
}

// provision creates an employee for every unmatched active user that is not
// ambiguous (an ambiguous user already matches employees), one at a time
// through the directory's own validation, after the link transaction has
// committed: a refused user is reported with its rule and does not undo the
// sync. Each created employee is linked to its user by email.
func (h *Handler) provision(ctx context.Context, p SyncUsersPayload, res mapping.Result, byID map[string]mapping.CRMUser, rep *SyncReport) error {
	ambiguous := make(map[string]bool, len(res.Ambiguous))
	for _, a := range res.Ambiguous {
		ambiguous[a.CRMUserID] = true
	}
	for _, id := range res.Unmatched {
		if ambiguous[id] {
			continue
		}
		u := byID[id]
		e, err := h.Syncs.CreateEmployee(ctx, p.TenantID, telephony.EmployeeInput{
			Email: u.Email, FullName: u.Name, OtherContacts: slices.Clone(u.Phones),
		})
		if err != nil {
			if !refused(err, u, rep) {
				return fmt.Errorf("provision employee for CRM user %s: %w", id, err)
			}
			continue
		}
		if err := h.Syncs.LinkProvisioned(ctx, p.TenantID, p.AccountID, id, e.ID); err != nil {
			if !refused(err, u, rep) {
				return fmt.Errorf("link CRM user %s to new employee %d: %w", id, e.ID, err)
			}
			continue
		}
		rep.Provisioned++
	}
	return nil
}

// refused reports a directory rule that refused to provision u, and says
// whether err was such a refusal.
func refused(err error, u mapping.CRMUser, rep *SyncReport) bool {
	add := func(e *telephony.Error) {
		rep.ProvisionErrors = append(rep.ProvisionErrors, ProvisionError{
			CRMUserID: u.ID, Name: u.Name, Email: u.Email, Field: e.Field, Rule: e.Message,
		})
	}
	var es telephony.Errors
	if errors.As(err, &es) && len(es) > 0 {
		for _, e := range es {
			add(e)
		}
		return true
	}
	var e *telephony.Error
	if errors.As(err, &e) && (e.Code == telephony.EInvalid || e.Code == telephony.EConflict) {
		add(e)
		return true
	}
	return false
}
