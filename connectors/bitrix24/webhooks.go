package bitrix24

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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
// which the account's base URL carries (AccountBaseURL), and, when the base
// URL names one, its member_id is the portal's. Otherwise, and when no
// application token is stored, it returns ErrUnauthorized. Lead, deal,
// contact and company add/update/delete events become changes (companies
// as "company:<id>" contacts); the event names only the record, so the
// change carries no responsible user: re-read it. Other events are
// ignored.
func (c *Client) ParseWebhook(r *http.Request, body []byte) ([]connectors.Change, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("bitrix24: webhook: %v: %w", err, connectors.ErrInvalid)
	}
	if c.appToken == "" {
		return nil, fmt.Errorf("bitrix24: webhook: no application token stored for this account: %w", connectors.ErrUnauthorized)
	}
	got := form.Get("auth[application_token]")
	if subtle.ConstantTimeCompare([]byte(got), []byte(c.appToken)) != 1 {
		return nil, fmt.Errorf("bitrix24: webhook: wrong application token: %w", connectors.ErrUnauthorized)
	}
	if m := form.Get("auth[member_id]"); c.memberID != "" && m != c.memberID {
		return nil, fmt.Errorf("bitrix24: webhook for portal %q, want %q: %w", m, c.memberID, connectors.ErrUnauthorized)
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
