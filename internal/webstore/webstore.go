// Package webstore adapts the store to the interfaces the web package
// declares. web may not import store (STYLE §3.2), so the two meet here,
// in one place that the binary and web's tests both use.
package webstore

import (
	"context"
	"encoding/json"

	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/web"
)

// Interface guards.
var (
	_ web.Accounts   = Accounts{}
	_ web.AdminStore = Admin{}
)

// Accounts adapts the store to web.Accounts.
type Accounts struct{ DB *store.DB }

func account(a store.Account) web.Account {
	return web.Account{ID: a.ID, Connector: a.Connector, Name: a.Name, ExternalID: a.ExternalID, BaseURL: a.BaseURL,
		Status: a.Status, StatusReason: a.StatusReason, SyncIntervalS: int64(a.SyncInterval), Provision: a.Provision,
		LastSyncAt: a.LastSyncAt, CreatedAt: a.CreatedAt}
}

func link(l store.AccountLink) web.Link {
	return web.Link{CRMUserID: l.CRMUserID, Name: l.Name, Email: l.Email, Active: l.Active, Gone: l.Gone, Linked: l.Linked,
		EmployeeID: l.EmployeeID, EmployeeName: l.EmployeeName, Manual: l.Manual, Rule: l.Rule, Confidence: l.Confidence}
}

func (a Accounts) Accounts(ctx context.Context, tenantID int64) ([]web.Account, error) {
	as, err := a.DB.Accounts(ctx, tenantID)
	out := make([]web.Account, len(as))
	for i, x := range as {
		out[i] = account(x)
	}
	return out, err
}

func (a Accounts) Account(ctx context.Context, tenantID, id int64) (web.Account, error) {
	x, err := a.DB.Account(ctx, tenantID, id)
	return account(x), err
}

func (a Accounts) SyncRuns(ctx context.Context, tenantID, accountID int64, limit int) ([]web.SyncRun, error) {
	runs, err := a.DB.SyncRuns(ctx, tenantID, accountID, limit)
	out := make([]web.SyncRun, len(runs))
	for i, r := range runs {
		out[i] = web.SyncRun{ID: r.ID, AccountID: r.AccountID, Status: r.Status, Report: r.Report, Error: r.Error,
			StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
	}
	return out, err
}

func (a Accounts) LastSyncReport(ctx context.Context, tenantID, accountID int64) (json.RawMessage, error) {
	return a.DB.LastSyncReport(ctx, tenantID, accountID)
}

func (a Accounts) AccountLinks(ctx context.Context, tenantID, accountID int64) ([]web.Link, error) {
	ls, err := a.DB.AccountLinks(ctx, tenantID, accountID)
	out := make([]web.Link, len(ls))
	for i, l := range ls {
		out[i] = link(l)
	}
	return out, err
}

func (a Accounts) SetManualLink(ctx context.Context, tenantID, accountID int64, crmUserID string, employeeID *int64) (web.Link, error) {
	l, err := a.DB.SetManualLink(ctx, tenantID, accountID, crmUserID, employeeID)
	return link(l), err
}

func (a Accounts) ClearManualLink(ctx context.Context, tenantID, accountID int64, crmUserID string) error {
	return a.DB.ClearManualLink(ctx, tenantID, accountID, crmUserID)
}

// Admin adapts the store to web.AdminStore.
type Admin struct{ DB *store.DB }

func (a Admin) AdminLogins(ctx context.Context, name string) ([]web.AdminLogin, error) {
	ls, err := a.DB.AdminLogins(ctx, name)
	out := make([]web.AdminLogin, len(ls))
	for i, l := range ls {
		out[i] = web.AdminLogin{TenantID: l.TenantID, EmployeeID: l.EmployeeID, Role: l.Role, PasswordHash: l.PasswordHash}
	}
	return out, err
}

func (a Admin) RecentCalls(ctx context.Context, tenantID int64, limit int) ([]jobs.CallStatus, error) {
	return a.DB.RecentCalls(ctx, tenantID, limit)
}

func (a Admin) LinkAccount(ctx context.Context, tenantID int64, in web.LinkedAccount) (web.Account, error) {
	x, err := a.DB.LinkAccount(ctx, tenantID, store.LinkAccount{
		Connector: in.Connector, Name: in.Name, ExternalID: in.ExternalID, BaseURL: in.BaseURL, Token: in.Token,
	})
	return account(x), err
}

func (a Admin) DisconnectAccount(ctx context.Context, tenantID, accountID int64) error {
	return a.DB.DisconnectAccount(ctx, tenantID, accountID)
}
