package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/telephony"
)

// TypeSyncUsers syncs the users of one CRM account with the tenant's
// employees: list, store, match, link, optionally provision.
const TypeSyncUsers = "sync:users"

// Sync task settings.
const (
	// SyncTimeout bounds one sync attempt (asynq ignores timeouts under
	// 1 s; this is far above).
	SyncTimeout = 10 * time.Minute
	// SyncMaxRetry is how many failed attempts a sync gets before it is
	// archived. Rate limits and a busy account do not count.
	SyncMaxRetry = 3
	// staleRun is when a sync run still marked running is taken to be
	// dead: its worker was killed past the task timeout and lease.
	staleRun = SyncTimeout + 2*time.Minute
)

// Sync run statuses, as stored.
const (
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunSkipped   = "skipped"
)

// SyncUsersPayload is the payload of a TypeSyncUsers task.
type SyncUsersPayload struct {
	TenantID  int64 `json:"tenant_id"`
	AccountID int64 `json:"account_id"`
}

// SyncStore is what a user sync needs from storage; *store.DB implements
// it. Methods taking a tenant id return an ENotFound telephony.Error for an
// account of another tenant.
type SyncStore interface {
	// FindAccount returns the account with id, or an error wrapping
	// connectors.ErrNotFound.
	FindAccount(ctx context.Context, id int64) (connectors.Account, error)
	// StartSyncRun records a running sync of the account and returns its
	// id and whether the account provisions employees. While another run
	// of the account that started less than staleAfter ago is running it
	// returns an EConflict telephony.Error; older running runs are marked
	// failed (their worker died).
	StartSyncRun(ctx context.Context, tenantID, accountID int64, staleAfter time.Duration) (runID int64, provision bool, err error)
	// ApplyUserSync stores the account's users as listed (users missing
	// from the list are marked gone), runs mapping.Match against the
	// tenant's employees and the account's links, and applies its links
	// and unlinks (with audit entries), all in one transaction. Manual
	// links are never changed.
	ApplyUserSync(ctx context.Context, tenantID, accountID int64, users []mapping.CRMUser) (mapping.Result, error)
	// FinishSyncRun ends run runID with status and its JSON report; a
	// succeeded run also sets the account's last_sync_at.
	FinishSyncRun(ctx context.Context, tenantID, runID int64, status string, report json.RawMessage, errMsg string) error
	// SkipSyncRun records a run that did nothing, with why in report.
	SkipSyncRun(ctx context.Context, tenantID, accountID int64, report json.RawMessage) error
	// MarkNeedsRelink flags the account for its admin.
	MarkNeedsRelink(ctx context.Context, accountID int64, reason string) error
	// CreateEmployee creates an employee through every directory rule. It
	// returns telephony.Errors for invalid fields and an EConflict
	// telephony.Error naming a taken field.
	CreateEmployee(ctx context.Context, tenantID int64, in telephony.EmployeeInput) (telephony.Employee, error)
	// LinkProvisioned links a CRM user of the account to the employee
	// created for it, unless the user was linked meanwhile.
	LinkProvisioned(ctx context.Context, tenantID, accountID int64, crmUserID string, employeeID int64) error
}

// newSyncTask returns a sync task with the options every sync has.
func newSyncTask(p SyncUsersPayload, opts ...asynq.Option) (*asynq.Task, error) {
	if p.TenantID <= 0 || p.AccountID <= 0 {
		return nil, fmt.Errorf("jobs: sync task needs a tenant and an account id, got %+v", p)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	opts = append([]asynq.Option{asynq.Queue(QueueDefault), asynq.MaxRetry(SyncMaxRetry), asynq.Timeout(SyncTimeout)}, opts...)
	return asynq.NewTask(TypeSyncUsers, b, opts...), nil
}

// NewSyncUsersTask returns an on-demand sync of one account, requested at
// at. Its task id names the minute, so repeated requests within a minute
// while it is queued or running are one sync.
func NewSyncUsersTask(p SyncUsersPayload, at time.Time) (*asynq.Task, error) {
	return newSyncTask(p, asynq.TaskID(OnDemandSyncTaskID(p.AccountID, at)))
}

// OnDemandSyncTaskID is the task id of an on-demand sync requested at at.
func OnDemandSyncTaskID(accountID int64, at time.Time) string {
	return fmt.Sprintf("%s:%d:now:%d", TypeSyncUsers, accountID, at.Unix()/60*60)
}

// PeriodicSyncTaskID is the task id of the periodic sync of the slot that
// starts at slot.
func PeriodicSyncTaskID(accountID int64, slot time.Time) string {
	return fmt.Sprintf("%s:%d:%d", TypeSyncUsers, accountID, slot.Unix())
}

// triggerOf tells a periodic task from an on-demand one by its id.
func triggerOf(taskID string) string {
	switch {
	case strings.Contains(taskID, ":now:"):
		return "on_demand"
	case strings.HasPrefix(taskID, TypeSyncUsers+":"):
		return "periodic"
	}
	return "other"
}

// ProcessSyncUsers handles TypeSyncUsers tasks. It skips (and records)
// accounts that are not connected, and waits (ErrBusy) while another sync
// of the account runs.
func (h *Handler) ProcessSyncUsers(ctx context.Context, t *asynq.Task) error {
	var p SyncUsersPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.TenantID <= 0 || p.AccountID <= 0 {
		return fmt.Errorf("sync users: bad payload %q: %w", t.Payload(), asynq.SkipRetry)
	}
	taskID, _ := asynq.GetTaskID(ctx)
	start := h.now()
	rep := newReport(triggerOf(taskID), taskID)

	acct, err := h.Syncs.FindAccount(ctx, p.AccountID)
	if err != nil {
		return classify(fmt.Errorf("sync users of account %d: %w", p.AccountID, err))
	}
	if acct.Status != connectors.StatusConnected {
		rep.Skipped = "account is " + acct.Status + ": relink it to sync again"
		if err := h.Syncs.SkipSyncRun(ctx, p.TenantID, p.AccountID, rep.json()); err != nil {
			return classify(fmt.Errorf("sync users of account %d: record skip: %w", p.AccountID, err))
		}
		h.Metrics.observeSync(RunSkipped, 0)
		return nil
	}
	runID, provision, err := h.Syncs.StartSyncRun(ctx, p.TenantID, p.AccountID, staleRun)
	if telephony.ErrorCode(err) == telephony.EConflict {
		return fmt.Errorf("sync users of account %d: %w", p.AccountID, ErrBusy)
	} else if err != nil {
		return classify(fmt.Errorf("sync users of account %d: %w", p.AccountID, err))
	}

	err = h.syncUsers(ctx, p, provision, rep)
	rep.DurationMS = h.now().Sub(start).Milliseconds()
	status, errMsg := RunSucceeded, ""
	if err != nil {
		status, errMsg = RunFailed, err.Error()
		rep.Errors = append(rep.Errors, errMsg)
	}
	// Detached: a run cut short by its deadline must still be closed.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ferr := h.Syncs.FinishSyncRun(fctx, p.TenantID, runID, status, rep.json(), errMsg); ferr != nil {
		err = errors.Join(err, fmt.Errorf("finish sync run %d: %w", runID, ferr))
	}
	h.Metrics.observeSync(status, h.now().Sub(start))
	if errors.Is(err, connectors.ErrUnauthorized) {
		err = h.markNeedsRelink(fctx, p.AccountID, err)
	}
	return classify(err)
}

// markNeedsRelink flags an account whose CRM refused our token even after
// a refresh (a 401 that survived the transport's renewal). Accounts already
// flagged (the token source marks invalid_grant itself) keep their reason.
func (h *Handler) markNeedsRelink(ctx context.Context, accountID int64, cause error) error {
	acct, err := h.Syncs.FindAccount(ctx, accountID)
	if err == nil && acct.Status != connectors.StatusConnected {
		return cause
	}
	if err := h.Syncs.MarkNeedsRelink(ctx, accountID, "the CRM refused our token: "+cause.Error()); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// syncUsers does one sync run's work and fills rep.
func (h *Handler) syncUsers(ctx context.Context, p SyncUsersPayload, provision bool, rep *SyncReport) error {
	conn, err := h.Connections.ConnectorFor(ctx, p.AccountID)
	if err != nil {
		return fmt.Errorf("connector: %w", err)
	}
	listed, err := conn.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	users := make([]mapping.CRMUser, len(listed))
	byID := make(map[string]mapping.CRMUser, len(listed))
	for i, u := range listed {
		users[i] = mapping.CRMUser{ID: u.ID, Name: u.Name, Email: u.Email, Phones: u.Phones, Active: u.Active}
		byID[u.ID] = users[i]
	}
	res, err := h.Syncs.ApplyUserSync(ctx, p.TenantID, p.AccountID, users)
	if err != nil {
		return fmt.Errorf("store users and links: %w", err)
	}
	rep.fill(users, byID, res)
	if err := h.countOwned(ctx, conn, res.Unlinked, byID, rep); err != nil {
		return err
	}
	if provision {
		return h.provision(ctx, p, res, byID, rep)
	}
	return nil
}
