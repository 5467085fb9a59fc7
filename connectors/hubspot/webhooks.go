package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// Webhook signature v3 headers, and how far a request's timestamp may be
// from our clock.
const (
	signatureHeader = "X-HubSpot-Signature-v3"
	timestampHeader = "X-HubSpot-Request-Timestamp"
	maxWebhookAge   = 5 * time.Minute
)

// event is one entry of HubSpot's webhook payload (a JSON array).
type event struct {
	EventID          int64   `json:"eventId"`
	PortalID         int64   `json:"portalId"`
	SubscriptionType string  `json:"subscriptionType"`
	ObjectID         int64   `json:"objectId"`
	ObjectTypeID     string  `json:"objectTypeId"`
	PropertyName     string  `json:"propertyName"`
	PropertyValue    string  `json:"propertyValue"`
	MergedObjectIDs  []int64 `json:"mergedObjectIds"`
}

// Object type ids of the kinds we route on.
var kindByObjectType = map[string]connectors.EntityKind{
	"0-1":   connectors.KindContact,
	"0-3":   connectors.KindDeal,
	"0-136": connectors.KindLead,
}

// ParseWebhook implements connectors.WebhookParser. It verifies HubSpot's
// v3 signature (HMAC-SHA256 keyed with the app's client secret over method,
// URI, body and timestamp, base64) and the timestamp's age, then decodes
// the events that can change who answers a number: owner changes
// (hubspot_owner_id), phone changes on contacts, association changes,
// deletions, merges and restores. Other events are skipped, and so are
// other portals' events: HubSpot's webhooks are app-level, so one request
// may carry several portals' events (see WebhookAccounts). A request that
// fails verification returns an error wrapping connectors.ErrUnauthorized;
// a body that is not HubSpot's JSON returns one wrapping ErrInvalid.
func (c *Client) ParseWebhook(r *http.Request, body []byte) ([]connectors.Change, error) {
	if err := c.verify(r, body); err != nil {
		return nil, fmt.Errorf("hubspot: webhook: %w", err)
	}
	var events []event
	if err := json.Unmarshal(body, &events); err != nil {
		return nil, fmt.Errorf("hubspot: webhook: decode: %v: %w", err, connectors.ErrInvalid)
	}
	changes := []connectors.Change{}
	for _, e := range events {
		if c.portal != "" && e.PortalID != 0 && strconv.FormatInt(e.PortalID, 10) != c.portal {
			continue
		}
		changes = append(changes, e.changes()...)
	}
	return changes, nil
}

// WebhookAccounts implements connectors.Info.WebhookAccounts: HubSpot posts
// every portal's events to the app's one target URL, so the handler asks
// which portals (account external ids) a request concerns before it finds
// their accounts. It verifies nothing; each account's ParseWebhook does.
func WebhookAccounts(body []byte) ([]string, error) {
	var events []struct {
		PortalID int64 `json:"portalId"`
	}
	if err := json.Unmarshal(body, &events); err != nil {
		return nil, fmt.Errorf("hubspot: webhook: decode: %v: %w", err, connectors.ErrInvalid)
	}
	var ids []string
	for _, e := range events {
		if id := strconv.FormatInt(e.PortalID, 10); e.PortalID != 0 && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// verify checks the v3 signature of r, whose raw body is body.
func (c *Client) verify(r *http.Request, body []byte) error {
	if c.secret == "" {
		return fmt.Errorf("no client secret to check signatures with: %w", connectors.ErrUnauthorized)
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(signatureHeader))
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("missing or malformed %s: %w", signatureHeader, connectors.ErrUnauthorized)
	}
	ts := r.Header.Get(timestampHeader)
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("missing or malformed %s: %w", timestampHeader, connectors.ErrUnauthorized)
	}
	if age := c.now().Sub(time.UnixMilli(ms)); age > maxWebhookAge || age < -maxWebhookAge {
		return fmt.Errorf("timestamp %s is %s away: %w", ts, age.Round(time.Second), connectors.ErrUnauthorized)
	}
	for _, uri := range requestURIs(r) {
		if hmac.Equal(sig, sign(c.secret, r.Method, uri, body, ts)) {
			return nil
		}
	}
	return fmt.Errorf("bad %s: %w", signatureHeader, connectors.ErrUnauthorized)
}

// sign returns the v3 signature HubSpot sends for a request (raw bytes;
// the header carries them base64-encoded). uri is the full URL HubSpot
// called, timestamp the header's value in Unix milliseconds.
func sign(clientSecret, method, uri string, body []byte, timestamp string) []byte {
	mac := hmac.New(sha256.New, []byte(clientSecret))
	mac.Write([]byte(method + uri))
	mac.Write(body)
	mac.Write([]byte(timestamp))
	return mac.Sum(nil)
}

// uriDecoder undoes the percent-encodings HubSpot decodes before signing.
var uriDecoder = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$",
	"%27", "'", "%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
)

// requestURIs returns the URLs HubSpot may have signed for r. HubSpot
// calls only HTTPS targets, but TLS usually ends at a proxy before us, so
// both the forwarded (or https) and the plain scheme are tried; the host
// is the forwarded host when a proxy names one.
func requestURIs(r *http.Request) []string {
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host = strings.TrimSpace(strings.Split(fh, ",")[0])
	}
	path := uriDecoder.Replace(r.URL.RequestURI())
	schemes := []string{"https"}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" && p != "https" {
		schemes = []string{strings.TrimSpace(strings.Split(p, ",")[0])}
	} else if r.TLS == nil && p == "" {
		schemes = append(schemes, "http")
	}
	out := make([]string, len(schemes))
	for i, s := range schemes {
		out[i] = s + "://" + host + path
	}
	return out
}

// changes decodes one event.
func (e event) changes() []connectors.Change {
	object, action, ok := strings.Cut(e.SubscriptionType, ".")
	if !ok || e.ObjectID == 0 {
		return nil
	}
	var kind connectors.EntityKind
	switch object {
	case "contact":
		kind = connectors.KindContact
	case "deal":
		kind = connectors.KindDeal
	case "object":
		kind = kindByObjectType[e.ObjectTypeID]
	}
	if kind == "" {
		return nil
	}
	ch := connectors.Change{Kind: kind, EntityID: strconv.FormatInt(e.ObjectID, 10)}
	switch action {
	case "propertyChange":
		switch e.PropertyName {
		case "hubspot_owner_id":
			ch.ResponsibleUserID = e.PropertyValue
		case "phone", "mobilephone":
			if kind != connectors.KindContact {
				return nil
			}
			if e.PropertyValue != "" {
				ch.Phones = []string{e.PropertyValue}
			}
		default:
			return nil
		}
		return []connectors.Change{ch}
	case "creation", "restore", "associationChange":
		return []connectors.Change{ch}
	case "deletion", "privacyDeletion":
		ch.Deleted = true
		return []connectors.Change{ch}
	case "merge":
		out := []connectors.Change{ch}
		for _, id := range e.MergedObjectIDs {
			if id != e.ObjectID {
				out = append(out, connectors.Change{Kind: kind, EntityID: strconv.FormatInt(id, 10), Deleted: true})
			}
		}
		return out
	}
	return nil
}
