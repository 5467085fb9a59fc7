package main

import (
	"crypto/hmac"
	"crypto/sha256"

	"github.com/crmsync/crmsync/internal/webstore"
	"github.com/crmsync/crmsync/web"
)

// adminConfig wires the admin pages and OAuth linking of the web role: the
// session key derived from CRMSYNC_SECRET_KEY (so every web process signs
// alike), sign-in limits shared through Redis, the OAuth apps, and the
// routing parts' connector resolver to revoke tokens on disconnect. The
// ops dashboard link is shown to administrators when the dashboard is on.
func (m *Main) adminConfig(rp *routingParts) web.AdminConfig {
	cfg := web.AdminConfig{
		BaseURL: m.Config.BaseURL,
		Store:   webstore.Admin{DB: m.DB},
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
