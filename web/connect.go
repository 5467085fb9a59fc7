package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// Linking a CRM account through OAuth (STYLE §3.13):
//
//  1. POST /admin/connect/{connector} (an administrator, with the form's
//     CSRF token) makes a random state and, where the vendor supports PKCE
//     (connectors.Info.PKCE), a verifier; both go into a signed, HttpOnly,
//     10-minute cookie bound to the tenant, the administrator and the
//     connector. The browser goes to AuthCodeURL with the S256 challenge.
//  2. GET /connect/{connector}/callback takes the cookie (once: it is
//     deleted at once), checks the connector, the signed-in administrator
//     and the state (constant time), exchanges the code with the verifier,
//     stores the account through AdminStore.LinkAccount and queues its
//     first sync through the Syncer.
//
// Every refusal (a tampered or stale state, a used code, a missing
// verifier, the vendor's error) is a page that says what happened and that
// nothing was linked.
//
// What is per connector comes from connectors.Info: Endpoint(baseURL) for
// the OAuth endpoints, Scopes, PKCE, DefaultBaseURL and DisplayName.
// Vendors whose API lives on a per-account host are handled generically:
// a callback parameter naming the host (amoCRM's referer, Bitrix24's
// domain) is accepted only inside the vendor's own domain, as Endpoint
// names it; a token answer naming it (Pipedrive's api_domain, Bitrix24's
// client_endpoint) sets the base URL; the account's external id is the
// token's hub_id, member_id, company_id or account_id, else the API host.

// flowTTL is how long a link attempt may take.
const flowTTL = 10 * time.Minute

// oauthFlow is what the flow cookie holds.
type oauthFlow struct {
	State      string `json:"s"`
	Verifier   string `json:"v,omitempty"`
	Connector  string `json:"c"`
	TenantID   int64  `json:"t"`
	EmployeeID int64  `json:"e"`
	APIBase    string `json:"b,omitempty"`
	Expires    int64  `json:"x"`
}

// oauthConfig builds connector name's OAuth config for an account whose
// API lives at apiBase.
func (s *Server) oauthConfig(name string, info connectors.Info, apiBase string) (*oauth2.Config, error) {
	app := s.Admin.OAuth[name]
	if app == nil || app.ClientID == "" {
		env := "CRMSYNC_OAUTH_" + strings.ToUpper(name)
		return nil, telephony.Errorf(telephony.EUnavailable, "",
			"%s is not set up on this server: set %s_CLIENT_ID and %s_CLIENT_SECRET (see the README)", info.DisplayName, env, env)
	}
	cfg := *app
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = info.Scopes
	}
	if cfg.RedirectURL == "" {
		cfg.RedirectURL = strings.TrimRight(s.Admin.BaseURL, "/") + "/connect/" + name + "/callback"
	}
	if info.Endpoint != nil {
		cfg.Endpoint = info.Endpoint(apiBase)
	}
	if u := s.Admin.AuthURL[name]; u != "" {
		cfg.Endpoint.AuthURL = u
	}
	return &cfg, nil
}

// apiBase is connector name's configured API base: the override, else the
// registry's default ("" for vendors with a host per account).
func (s *Server) apiBase(name string, info connectors.Info) string {
	if b := s.Admin.APIBaseURL[name]; b != "" {
		return strings.TrimRight(b, "/")
	}
	return info.DefaultBaseURL
}

// handleConnect serves POST /admin/connect/{connector}.
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("connector")
	info, err := connectors.Lookup(name)
	if err != nil {
		s.pageError(w, r, telephony.Errorf(telephony.ENotFound, "", "there is no connector %q", name))
		return
	}
	base := s.apiBase(name, info)
	cfg, err := s.oauthConfig(name, info, base)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if cfg.Endpoint.AuthURL == "" {
		s.pageError(w, r, telephony.Errorf(telephony.EUnavailable, "", "%s has no authorisation page for this server", info.DisplayName))
		return
	}
	v := viewerFrom(r)
	flow := oauthFlow{State: randomToken(32), Connector: name, TenantID: v.Tenant.ID, EmployeeID: v.Employee.ID,
		APIBase: s.Admin.APIBaseURL[name], Expires: s.Admin.now().Add(flowTTL).Unix()}
	var opts []oauth2.AuthCodeOption
	if info.PKCE {
		flow.Verifier = oauth2.GenerateVerifier()
		opts = append(opts, oauth2.S256ChallengeOption(flow.Verifier))
	}
	signed, err := s.Admin.signer().sign(purposeFlow, flow)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.setCookie(w, flowCookie, "/connect/", signed, flowTTL)
	http.Redirect(w, r, cfg.AuthCodeURL(flow.State, opts...), http.StatusSeeOther)
}

// linkRefused is a callback refusal: the page says why and that nothing
// was linked.
func linkRefused(format string, args ...any) error {
	return telephony.Errorf(telephony.EInvalid, "", "Nothing was linked: "+format+" Start again from Integrations.", args...)
}

// handleConnectCallback serves GET /connect/{connector}/callback.
func (s *Server) handleConnectCallback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("connector")
	info, err := connectors.Lookup(name)
	if err != nil {
		s.pageError(w, r, telephony.Errorf(telephony.ENotFound, "", "there is no connector %q", name))
		return
	}
	q := r.URL.Query()
	var flow oauthFlow
	ok := s.readSigned(r, flowCookie, purposeFlow, &flow)
	s.setCookie(w, flowCookie, "/connect/", "", 0) // one attempt, one callback
	v := viewerFrom(r)
	switch {
	case q.Get("error") != "":
		s.pageError(w, r, linkRefused("%s answered %q%s.", info.DisplayName, q.Get("error"), describe(q.Get("error_description"))))
		return
	case !ok || s.Admin.now().Unix() >= flow.Expires:
		s.pageError(w, r, linkRefused("no link attempt is in progress in this browser (it expired after %s, was already used, or was started elsewhere).", flowTTL))
		return
	case flow.Connector != name || flow.TenantID != v.Tenant.ID || flow.EmployeeID != v.Employee.ID:
		s.pageError(w, r, linkRefused("this answer belongs to another link attempt (another connector or another administrator)."))
		return
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(flow.State)) != 1:
		s.pageError(w, r, linkRefused("the state parameter does not match this browser's link attempt, so the answer may have been tampered with or replayed."))
		return
	case q.Get("code") == "":
		s.pageError(w, r, linkRefused("%s sent no authorisation code.", info.DisplayName))
		return
	case info.PKCE && flow.Verifier == "":
		s.pageError(w, r, linkRefused("the PKCE code verifier of this link attempt is missing, and %s requires it.", info.DisplayName))
		return
	}
	base, err := callbackBase(info, flow.APIBase, q)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	cfg, err := s.oauthConfig(name, info, base)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	tok, err := s.exchange(r.Context(), info, cfg, q.Get("code"), flow.Verifier)
	if err != nil {
		s.pageError(w, r, exchangeError(info, err))
		return
	}
	if base == "" {
		base = tokenBase(tok, info)
	}
	in := LinkedAccount{Connector: name, BaseURL: base, Token: tok, ExternalID: externalID(tok, base)}
	in.Name = info.DisplayName + " " + in.ExternalID
	a, err := s.Admin.Store.LinkAccount(r.Context(), v.Tenant.ID, in)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.changed(r)
	s.logger().Info("CRM account linked", "tenant_id", v.Tenant.ID, "account_id", a.ID, "connector", name, "employee_id", v.Employee.ID)
	msg := fmt.Sprintf("%s account %d is connected.", info.DisplayName, a.ID)
	if s.Syncer == nil {
		msg += " Syncing is not available in this process: run a worker and press Sync now."
	} else if _, err := s.Syncer.EnqueueSync(r.Context(), v.Tenant.ID, a.ID); err != nil {
		s.logger().Warn("queue first sync", "account_id", a.ID, "err", err)
		msg += " Its first sync could not be queued (" + err.Error() + "): press Sync now."
	} else {
		msg += " Its first sync is queued: the mapping fills in a moment."
	}
	s.setFlash(w, "ok", msg)
	http.Redirect(w, r, "/admin/integrations", http.StatusSeeOther)
}

// exchange trades the code for a token, with the PKCE verifier when there
// is one, through the connector's own exchange when its vendor needs one.
func (s *Server) exchange(ctx context.Context, info connectors.Info, cfg *oauth2.Config, code, verifier string) (*oauth2.Token, error) {
	if s.Admin.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, s.Admin.HTTPClient)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if info.Exchange != nil {
		return info.Exchange(ctx, cfg, code)
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	return cfg.Exchange(ctx, code, opts...)
}

// exchangeError explains a refused code exchange.
func exchangeError(info connectors.Info, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		what := re.ErrorCode
		if what == "" {
			what = fmt.Sprintf("HTTP %d", re.Response.StatusCode)
		}
		desc := re.ErrorDescription
		if desc == "" && re.ErrorCode == "" {
			desc = strings.TrimSpace(string(re.Body))
			if len(desc) > 300 {
				desc = desc[:300] + "…"
			}
		}
		return linkRefused("%s refused the authorisation code (%s%s). A code works once and only for a short time, and only with the verifier of the attempt that asked for it.",
			info.DisplayName, what, describe(desc))
	}
	return telephony.Errorf(telephony.EUnavailable, "", "Nothing was linked: %s could not be reached to exchange the code (%v). Try again.", info.DisplayName, err)
}

func describe(s string) string {
	if s = strings.TrimSpace(s); s == "" {
		return ""
	}
	return ": " + s
}

// callbackBase is the account's API base for the token request: the
// configured one, else a host the callback names (referer or domain)
// inside the vendor's domain, else "" (a global token endpoint).
func callbackBase(info connectors.Info, configured string, q url.Values) (string, error) {
	if configured != "" {
		return configured, nil
	}
	host := q.Get("referer")
	if host == "" {
		host = q.Get("domain")
	}
	if host == "" || info.Endpoint == nil {
		return "", nil
	}
	host = strings.ToLower(strings.TrimSpace(host))
	u, err := url.Parse("https://" + host)
	if err != nil || u.Host != host || u.Path != "" || u.User != nil {
		return "", linkRefused("the callback names an account host %q that is not a host name.", host)
	}
	base := "https://" + host
	auth, err := url.Parse(info.Endpoint(base).AuthURL)
	if err != nil || !sameSite(u.Hostname(), auth.Hostname()) {
		return "", linkRefused("the callback names an account host %q outside %s's domain.", host, info.DisplayName)
	}
	return base, nil
}

// sameSite reports whether host lies in the domain of the vendor's
// authorisation host: that host itself, or below its parent domain
// (www.amocrm.ru → *.amocrm.ru).
func sameSite(host, authHost string) bool {
	if host == authHost {
		return true
	}
	if net.ParseIP(authHost) != nil {
		return false
	}
	_, parent, ok := strings.Cut(authHost, ".")
	return ok && strings.Contains(parent, ".") && strings.HasSuffix(host, "."+parent)
}

// tokenBase is the API base a token answer names, else the registry's.
func tokenBase(tok *oauth2.Token, info connectors.Info) string {
	for _, key := range []string{"api_domain", "client_endpoint"} {
		if s, _ := tok.Extra(key).(string); s != "" {
			if !strings.Contains(s, "://") {
				s = "https://" + s
			}
			return strings.TrimRight(s, "/")
		}
	}
	return info.DefaultBaseURL
}

// externalID names the linked account: the id the token answer gives,
// else the API host.
func externalID(tok *oauth2.Token, base string) string {
	for _, key := range []string{"hub_id", "member_id", "company_id", "account_id"} {
		switch v := tok.Extra(key).(type) {
		case string:
			if v != "" {
				return v
			}
		case float64:
			return fmt.Sprintf("%.0f", v)
		}
	}
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return "default"
}
