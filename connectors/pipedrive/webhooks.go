package pipedrive

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/connectors"
)

// WebhookUser is the HTTP Basic user name of crmsync's Pipedrive webhooks.
const WebhookUser = "crmsync"

// WebhookAuth returns the HTTP Basic credentials a Pipedrive webhook for
// account accountID must carry (http_auth_user and http_auth_password of
// POST /v1/webhooks, or the webhook form in Pipedrive's settings).
// Pipedrive signs nothing: Basic credentials are all it sends. They are
// derived from the OAuth app's client secret, HMAC-SHA256 over the account
// id, so every account's hook has its own password, and the connector can
// check it with nothing stored beyond what it already gets; rotating the
// client secret changes every password (the hooks must be re-registered).
func WebhookAuth(clientSecret string, accountID int64) (user, password string) {
	mac := hmac.New(sha256.New, []byte(clientSecret))
	mac.Write([]byte("crmsync pipedrive webhook v1 account " + strconv.FormatInt(accountID, 10)))
	return WebhookUser, base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// webhook is a Pipedrive webhook body: v2 (meta, data, previous), or v1
// (current instead of data, object instead of entity), read the same way.
type webhook struct {
	Meta struct {
		Action   string `json:"action"`
		Entity   string `json:"entity"`
		Object   string `json:"object"` // v1
		EntityID flexID `json:"entity_id"`
		ID       flexID `json:"id"` // v1: the record's id
	} `json:"meta"`
	Data     json.RawMessage `json:"data"`
	Current  json.RawMessage `json:"current"` // v1
	Previous json.RawMessage `json:"previous"`
}

// record is what a webhook's data or previous says of a record.
type record struct {
	ID      flexID       `json:"id"`
	OwnerID flexID       `json:"owner_id"`
	Phones  []phoneValue `json:"phones"` // v2 persons
	Phone   []phoneValue `json:"phone"`  // v1 persons
}

// routingFields are the fields whose change can change who answers a
// number; a change event whose previous names none of them is skipped.
var routingFields = []string{"owner_id", "user_id", "phones", "phone", "person_id", "status",
	"is_archived", "is_deleted", "active_flag"}

// kindByEntity maps webhook entities onto kinds.
var kindByEntity = map[string]connectors.EntityKind{
	"person": connectors.KindContact,
	"deal":   connectors.KindDeal,
	"lead":   connectors.KindLead,
}

// ParseWebhook implements connectors.WebhookParser. It checks the request's
// HTTP Basic credentials against WebhookAuth for this account (an error
// wrapping ErrUnauthorized when they are missing or wrong, or when the
// Client has no client secret), then decodes the event. Creates and
// deletes of persons, deals and leads become changes (delete: Deleted), as
// do changes whose previous values include the owner, phones, person,
// status or archived flag; the new owner is data.owner_id, and Phones are
// the phones before and after, so caches of a removed number are dropped
// too. Other events give no changes. Register webhooks as version 2.0.
func (c *Client) ParseWebhook(r *http.Request, body []byte) ([]connectors.Change, error) {
	if err := c.checkWebhookAuth(r); err != nil {
		return nil, fmt.Errorf("pipedrive: webhook: %w", err)
	}
	var w webhook
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("pipedrive: webhook: decode: %v: %w", err, connectors.ErrInvalid)
	}
	entity := w.Meta.Entity
	if entity == "" {
		entity = w.Meta.Object
	}
	kind, ok := kindByEntity[entity]
	if !ok {
		return []connectors.Change{}, nil
	}
	data := w.Data
	if isNull(data) {
		data = w.Current
	}
	var cur, prev record
	var prevFields map[string]json.RawMessage
	for _, part := range []struct {
		raw json.RawMessage
		rec *record
	}{{data, &cur}, {w.Previous, &prev}} {
		if isNull(part.raw) {
			continue
		}
		if err := json.Unmarshal(part.raw, part.rec); err != nil {
			return nil, fmt.Errorf("pipedrive: webhook: decode %s: %v: %w", entity, err, connectors.ErrInvalid)
		}
	}
	if !isNull(w.Previous) {
		_ = json.Unmarshal(w.Previous, &prevFields) // it decoded as a record: it is an object
	}
	ch := connectors.Change{Kind: kind}
	switch strings.ToLower(w.Meta.Action) {
	case "create", "added":
	case "delete", "deleted":
		ch.Deleted = true
	case "change", "updated", "merged":
		if prevFields != nil && !slices.ContainsFunc(routingFields, func(f string) bool { _, ok := prevFields[f]; return ok }) {
			return []connectors.Change{}, nil // nothing routing depends on changed
		}
	default:
		return []connectors.Change{}, nil
	}
	ch.EntityID = firstOf(string(w.Meta.EntityID), string(cur.ID), string(prev.ID), string(w.Meta.ID))
	if ch.EntityID == "" {
		return nil, fmt.Errorf("pipedrive: webhook: %s event without an id: %w", entity, connectors.ErrInvalid)
	}
	if !ch.Deleted && cur.OwnerID != "" && cur.OwnerID != "0" {
		ch.ResponsibleUserID = string(cur.OwnerID)
	}
	for _, p := range slices.Concat(cur.Phones, cur.Phone, prev.Phones, prev.Phone) {
		if p != "" && !slices.Contains(ch.Phones, string(p)) {
			ch.Phones = append(ch.Phones, string(p))
		}
	}
	return []connectors.Change{ch}, nil
}

// checkWebhookAuth compares r's Basic credentials with WebhookAuth's.
func (c *Client) checkWebhookAuth(r *http.Request) error {
	if c.secret == "" {
		return fmt.Errorf("no client secret to derive webhook credentials from: %w", connectors.ErrUnauthorized)
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return fmt.Errorf("no Basic credentials: %w", connectors.ErrUnauthorized)
	}
	wantUser, wantPass := WebhookAuth(c.secret, c.accountID)
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(wantUser))
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(wantPass))
	if okUser&okPass != 1 {
		return fmt.Errorf("wrong Basic credentials: %w", connectors.ErrUnauthorized)
	}
	return nil
}

// flexID is an id that arrives as a JSON number or string.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		*f = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s is neither a number nor a string", b)
	}
	*f = flexID(n.String())
	return nil
}

// phoneValue is a phone that arrives as {"value": …} or a bare string.
type phoneValue string

func (p *phoneValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*p = phoneValue(s)
		return nil
	}
	var o struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("phone %s is neither a string nor an object", b)
	}
	*p = phoneValue(o.Value)
	return nil
}

func isNull(b []byte) bool {
	s := strings.TrimSpace(string(b))
	return s == "" || s == "null"
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
