package pipedrivetest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// Webhook is one webhooks-v2 event, as Pipedrive posts it.
type Webhook struct {
	Action   string // create, change or delete
	Entity   string // person, deal, lead, activity, …
	EntityID string
	// Data is the record after the event (nil: null, as for deletes);
	// Previous holds the changed fields' old values (nil: null).
	Data, Previous map[string]any
}

// NewWebhookRequest returns a POST to url carrying w as Pipedrive sends it
// (meta, data, previous; version 2.0) with HTTP Basic credentials user
// and password (none when both are empty), and its body.
func NewWebhookRequest(url, user, password string, w Webhook) (*http.Request, []byte, error) {
	body, err := json.Marshal(map[string]any{
		"meta": map[string]any{
			"action": w.Action, "entity": w.Entity, "entity_id": w.EntityID, "version": "2.0",
			"company_id": CompanyID, "user_id": 1, "id": "5f2a7c1e-0000-4000-8000-000000000001",
			"webhook_id": "42", "webhook_owner_id": "1", "attempt": 1, "change_source": "app",
			"host": "company.pipedrive.com", "timestamp": time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).Format(time.RFC3339),
			"is_bulk_edit": false, "type": "general",
		},
		"data":     w.Data,
		"previous": w.Previous,
	})
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Pipedrive-Webhook")
	if user != "" || password != "" {
		req.SetBasicAuth(user, password)
	}
	return req, body, nil
}
