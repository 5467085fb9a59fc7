package hubspottest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// WebhookEvent is one event of the JSON array HubSpot posts to an app's
// webhook target URL. HubSpot publishes no schema for it (its webhooks
// document covers the management API), so it follows HubSpot's webhook
// documentation.
type WebhookEvent struct {
	EventID          int64   `json:"eventId"`
	SubscriptionID   int64   `json:"subscriptionId"`
	PortalID         int64   `json:"portalId"`
	AppID            int64   `json:"appId"`
	OccurredAt       int64   `json:"occurredAt"` // Unix milliseconds
	SubscriptionType string  `json:"subscriptionType"`
	AttemptNumber    int     `json:"attemptNumber"`
	ObjectID         int64   `json:"objectId"`
	ObjectTypeID     string  `json:"objectTypeId,omitempty"` // object.* events: "0-136" for leads
	PropertyName     string  `json:"propertyName,omitempty"`
	PropertyValue    string  `json:"propertyValue,omitempty"`
	ChangeSource     string  `json:"changeSource,omitempty"`
	MergedObjectIDs  []int64 `json:"mergedObjectIds,omitempty"`
}

// SignatureV3 returns the X-HubSpot-Signature-v3 value for a request:
// base64 of HMAC-SHA256, keyed with the app's client secret, over method,
// the full URI, the raw body and the X-HubSpot-Request-Timestamp value.
func SignatureV3(clientSecret, method, uri string, body []byte, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(clientSecret))
	mac.Write([]byte(method))
	mac.Write([]byte(uri))
	mac.Write(body)
	mac.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// NewWebhookRequest returns the POST HubSpot would send to target (a full
// URL) with events at time at, signed with clientSecret, and its body.
// Events without a portal, app or time get HubID, 1 and at.
func NewWebhookRequest(target, clientSecret string, events []WebhookEvent, at time.Time) (*http.Request, []byte, error) {
	for i := range events {
		e := &events[i]
		if e.PortalID == 0 {
			e.PortalID = HubID
		}
		if e.AppID == 0 {
			e.AppID = 1
		}
		if e.OccurredAt == 0 {
			e.OccurredAt = at.UnixMilli()
		}
		if e.AttemptNumber == 0 && e.EventID == 0 {
			e.EventID = int64(i + 1)
		}
	}
	body, err := json.Marshal(events)
	if err != nil {
		return nil, nil, fmt.Errorf("hubspottest: encode webhook: %w", err)
	}
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("hubspottest: webhook request: %w", err)
	}
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", SignatureV3(clientSecret, http.MethodPost, target, body, ts))
	return req, body, nil
}
