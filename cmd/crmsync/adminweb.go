package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"

	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/web"
)

var _ web.AdminStore = webAdmin{}

// adminConfig wires the admin pages and OAuth linking of the web role: the
// session key derived from CRMSYNC_SECRET_KEY (so every web process signs
// alike), sign-in limits shared through Redis, the OAuth apps, and the
// routing parts' connector resolver to revoke tokens on disconnect. The
// ops dashboard link is shown to administrators when the dashboard is on.
func (m *Main) adminConfig(rp *routingParts) web.AdminConfig {
	cfg := web.AdminConfig{
		BaseURL: m.Config.BaseURL,
		Store:   webAdmin{m.DB},
		Limiter: &web.RedisLoginLimiter{Redis: m.Redis},
		OAuth:   oauthApps(m.Config),
	}
	if secret, err := m.secretKey(); err == nil && secret != "" {
		cfg.SessionKey = sessionKey(secret)
	}
	if rp != nil {
		cfg.Connectors = rp.Connectors
	}
	if m.Config.Ops.Password != "" {
		cfg.OpsURL = web.DashboardPath + "/"
	}
	if sb := m.demo; sb != nil { // crmsync serve --demo: Connect goes to the sandbox CRM
		cfg.APIBaseURL = map[string]string{"amocrm": sb.URL}
		cfg.AuthURL = map[string]string{"amocrm": sb.URL + "/oauth"}
	}
	return cfg
}

// sessionKey derives the admin pages' signing key from the secret key, so
// the key that seals tokens never signs cookies itself.
func sessionKey(secret string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("crmsync web admin sessions v1"))
	return mac.Sum(nil)
}

// webAdmin adapts the store to web.AdminStore (web may not import store).
type webAdmin struct{ db *store.DB }

func (a webAdmin) AdminLogins(ctx context.Context, name string) ([]web.AdminLogin, error) {
	ls, err := a.db.AdminLogins(ctx, name)
	out := make([]web.AdminLogin, len(ls))
	for i, l := range ls {
		out[i] = web.AdminLogin{TenantID: l.TenantID, EmployeeID: l.EmployeeID, Role: l.Role, PasswordHash: l.PasswordHash}
	}
	return out, err
}

func (a webAdmin) RecentCalls(ctx context.Context, tenantID int64, limit int) ([]jobs.CallStatus, error) {
	return a.db.RecentCalls(ctx, tenantID, limit)
}

func (a webAdmin) LinkAccount(ctx context.Context, tenantID int64, in web.LinkedAccount) (web.Account, error) {
	x, err := a.db.LinkAccount(ctx, tenantID, store.LinkAccount{
		Connector: in.Connector, Name: in.Name, ExternalID: in.ExternalID, BaseURL: in.BaseURL, Token: in.Token,
	})
	return webAccount(x), err
}

func (a webAdmin) DisconnectAccount(ctx context.Context, tenantID, accountID int64) error {
	return a.db.DisconnectAccount(ctx, tenantID, accountID)
}
