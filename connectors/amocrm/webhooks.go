package amocrm

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/connectors"
)

// amoHosts are the domains whose first label is the account subdomain.
var amoHosts = []string{".amocrm.ru", ".amocrm.com", ".kommo.com"}

// webhookEvent is one entity[action][n] entry of a webhook.
type webhookEvent struct {
	object, action string
	n              int
	fields         map[string]string
	fieldCodes     map[string]string   // custom field index → code
	fieldValues    map[string][]string // custom field index → values
}

// ParseWebhook implements connectors.WebhookParser. amo posts
// form-encoded nested arrays: leads[update][0][id]=…,
// leads[responsible][0][responsible_user_id]=…, contacts[delete][0][id]=…
// (contacts[…][type] tells contacts from companies). Deal and contact
// add/update/restore/responsible/status events become changes, delete
// events deleted changes; notes, unsorted leads and customers are ignored.
// amo signs nothing, so the hook URL is the secret; when the account lives
// on an amo domain, a request naming another subdomain in
// account[subdomain] is refused with ErrUnauthorized.
func (c *Client) ParseWebhook(r *http.Request, body []byte) ([]connectors.Change, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("amocrm: webhook: %v: %w", err, connectors.ErrInvalid)
	}
	if want := c.subdomain(); want != "" {
		if got := form.Get("account[subdomain]"); !strings.EqualFold(got, want) {
			return nil, fmt.Errorf("amocrm: webhook for account %q, want %q: %w", got, want, connectors.ErrUnauthorized)
		}
	}
	events := map[string]*webhookEvent{}
	for key, vals := range form {
		object, action, n, rest, ok := splitKey(key)
		if !ok || len(vals) == 0 {
			continue
		}
		id := object + "/" + action + "/" + strconv.Itoa(n)
		ev := events[id]
		if ev == nil {
			ev = &webhookEvent{object: object, action: action, n: n, fields: map[string]string{},
				fieldCodes: map[string]string{}, fieldValues: map[string][]string{}}
			events[id] = ev
		}
		parts := strings.Split(rest, "][")
		switch {
		case len(parts) == 1:
			ev.fields[parts[0]] = vals[0]
		case parts[0] == "custom_fields" && len(parts) == 3 && parts[2] == "code":
			ev.fieldCodes[parts[1]] = vals[0]
		case parts[0] == "custom_fields" && len(parts) == 5 && parts[2] == "values" && parts[4] == "value":
			ev.fieldValues[parts[1]] = append(ev.fieldValues[parts[1]], vals[0])
		}
	}
	list := make([]*webhookEvent, 0, len(events))
	for _, ev := range events {
		list = append(list, ev)
	}
	slices.SortFunc(list, func(a, b *webhookEvent) int {
		return cmp.Or(strings.Compare(a.object, b.object), strings.Compare(a.action, b.action), cmp.Compare(a.n, b.n))
	})
	var out []connectors.Change
	for _, ev := range list {
		if ch, ok := ev.change(); ok {
			out = append(out, ch)
		}
	}
	return out, nil
}

// splitKey splits "leads[update][0][custom_fields][1][code]" into
// ("leads", "update", 0, "custom_fields][1][code").
func splitKey(key string) (object, action string, n int, rest string, ok bool) {
	object, tail, ok := strings.Cut(key, "[")
	if !ok || !strings.HasSuffix(tail, "]") {
		return "", "", 0, "", false
	}
	parts := strings.SplitN(strings.TrimSuffix(tail, "]"), "][", 3)
	if len(parts) != 3 {
		return "", "", 0, "", false
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		return "", "", 0, "", false
	}
	return object, parts[0], n, parts[2], true
}

func (ev *webhookEvent) change() (connectors.Change, bool) {
	var ch connectors.Change
	switch ev.object {
	case "leads":
		ch.Kind = connectors.KindDeal
		ch.EntityID = ev.fields["id"]
	case "contacts", "companies":
		ch.Kind = connectors.KindContact
		ch.EntityID = ev.fields["id"]
		if ev.object == "companies" || ev.fields["type"] == "company" {
			ch.EntityID = companyPrefix + ch.EntityID
		}
	default:
		return ch, false
	}
	switch ev.action {
	case "add", "update", "restore", "responsible", "status":
	case "delete":
		ch.Deleted = true
	default:
		return ch, false
	}
	if ev.fields["id"] == "" {
		return ch, false
	}
	if r := ev.fields["responsible_user_id"]; r != "" && r != "0" {
		ch.ResponsibleUserID = r
	}
	idx := make([]string, 0, len(ev.fieldCodes))
	for i := range ev.fieldCodes {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		if ev.fieldCodes[i] == "PHONE" {
			ch.Phones = append(ch.Phones, ev.fieldValues[i]...)
		}
	}
	return ch, true
}

// subdomain is the account subdomain of an amo base URL, or "" when the
// base URL is not on an amo domain (a fake in tests).
func (c *Client) subdomain() string {
	u, err := url.Parse(c.baseURL)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	for _, suffix := range amoHosts {
		if sub, ok := strings.CutSuffix(host, suffix); ok && !strings.Contains(sub, ".") {
			return sub
		}
	}
	return ""
}
