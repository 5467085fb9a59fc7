package bitrix24

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// Events are the Bitrix24 events ParseWebhook understands: bind them with
// event.bind to the account's webhook URL to keep routing answers fresh.
var Events = []string{
	"ONCRMLEADADD", "ONCRMLEADUPDATE", "ONCRMLEADDELETE",
	"ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE",
	"ONCRMCONTACTADD", "ONCRMCONTACTUPDATE", "ONCRMCONTACTDELETE",
	"ONCRMCOMPANYADD", "ONCRMCOMPANYUPDATE", "ONCRMCOMPANYDELETE",
}

// ParseWebhook implements connectors.WebhookParser. Bitrix24 posts one
// event per request, form-encoded: event=ONCRMDEALUPDATE,
// data[FIELDS][ID]=…, auth[application_token]=…, auth[member_id]=….
// Bitrix24 signs nothing; the request is genuine when its
// application_token is the one the installation received in ONAPPINSTALL,
// the account's webhook secret (compared in constant time). Otherwise, and
// while the account has no secret, it returns ErrUnauthorized. Lead, deal,
// contact and company add/update/delete events become changes (companies
// as "company:<id>" contacts); the event names only the record, so the
// change carries no responsible user: re-read it. Other events, ONAPPINSTALL
// among them, give no changes.
func (c *Client) ParseWebhook(r *http.Request, body []byte) ([]connectors.Change, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("bitrix24: webhook: %v: %w", err, connectors.ErrInvalid)
	}
	if err := c.checkAppToken(form); err != nil {
		return nil, fmt.Errorf("bitrix24: webhook: %w", err)
	}
	event := strings.ToUpper(form.Get("event"))
	id := form.Get("data[FIELDS][ID]")
	rest, ok := strings.CutPrefix(event, "ONCRM")
	if !ok || id == "" {
		return nil, nil
	}
	var ch connectors.Change
	for _, obj := range []struct {
		name, prefix string
		kind         connectors.EntityKind
	}{{"LEAD", "", connectors.KindLead}, {"DEAL", "", connectors.KindDeal},
		{"CONTACT", "", connectors.KindContact}, {"COMPANY", companyPrefix, connectors.KindContact}} {
		if action, ok := strings.CutPrefix(rest, obj.name); ok {
			switch action {
			case "ADD", "UPDATE":
			case "DELETE":
				ch.Deleted = true
			default:
				return nil, nil
			}
			ch.Kind, ch.EntityID = obj.kind, obj.prefix+id
			return []connectors.Change{ch}, nil
		}
	}
	return nil, nil
}

// checkAppToken compares the event's auth[application_token] with the
// account's, in constant time.
func (c *Client) checkAppToken(form url.Values) error {
	if c.appToken == "" {
		return fmt.Errorf("no application token stored for this account yet (it comes with ONAPPINSTALL): %w", connectors.ErrUnauthorized)
	}
	got := form.Get("auth[application_token]")
	if got == "" {
		return fmt.Errorf("auth[application_token] is missing: %w", connectors.ErrUnauthorized)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(c.appToken)) != 1 {
		return fmt.Errorf("auth[application_token] is not this account's: %w", connectors.ErrUnauthorized)
	}
	return nil
}

// InstallEvent is the event that hands an installation its
// application_token.
const InstallEvent = "ONAPPINSTALL"

// ClaimWebhookSecret reads the application token from an ONAPPINSTALL
// event posted to the account's hook while the account has none, for the
// caller to store as the account's webhook secret. It returns "" and no
// error for any other request, and when the account already has a token
// (ParseWebhook then checks the event like any other).
//
// Bitrix24 signs nothing, and whoever stores the token first decides which
// events are accepted, so the event must prove itself: its
// auth[access_token] must be accepted by the account's own portal (one
// app.info call, sent with that token rather than the account's). A forged
// event fails with ErrUnauthorized, one without an application token with
// ErrInvalid; a failure to reach the portal is returned as is (transient).
func (c *Client) ClaimWebhookSecret(r *http.Request, body []byte) (string, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", fmt.Errorf("bitrix24: webhook: %v: %w", err, connectors.ErrInvalid)
	}
	if !strings.EqualFold(form.Get("event"), InstallEvent) || c.appToken != "" {
		return "", nil
	}
	token := form.Get("auth[application_token]")
	if token == "" {
		return "", fmt.Errorf("bitrix24: %s: auth[application_token] is missing: %w", InstallEvent, connectors.ErrInvalid)
	}
	access := form.Get("auth[access_token]")
	if access == "" {
		return "", fmt.Errorf("bitrix24: %s: auth[access_token] is missing, so the event cannot be verified: %w",
			InstallEvent, connectors.ErrUnauthorized)
	}
	verify := &Client{baseURL: c.baseURL, http: &http.Client{Transport: c.raw, Timeout: installCheckTimeout}}
	var info struct {
		Installed bool `json:"INSTALLED"`
	}
	if _, err := verify.call(r.Context(), "app.info", url.Values{"auth": {access}}, &info); err != nil {
		if errors.Is(err, connectors.ErrUnauthorized) || errors.Is(err, connectors.ErrInvalid) {
			return "", fmt.Errorf("bitrix24: %s: the portal refused the event's access token (%v): %w",
				InstallEvent, err, connectors.ErrUnauthorized)
		}
		return "", fmt.Errorf("bitrix24: %s: verify the access token: %w", InstallEvent, err)
	}
	if !info.Installed {
		return "", fmt.Errorf("bitrix24: %s: app.info says the app is not installed on the portal: %w",
			InstallEvent, connectors.ErrUnauthorized)
	}
	return token, nil
}

// installCheckTimeout bounds the app.info call of ClaimWebhookSecret.
const installCheckTimeout = 10 * time.Second
