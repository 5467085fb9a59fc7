// Package amocrm is the connector for amoCRM and Kommo (API v4), one
// platform on two domains.
//
// How the smart-forwarding kinds map (crm/API-NOTES.md §6):
//   - deal: an amo "lead" (сделка) linked to a contact or company that holds
//     the number; closed when its status is 142 (won) or 143 (lost).
//   - contact: contacts and companies holding the number. Company ids are
//     given as "company:<id>" so later writes land on the right object.
//   - lead: unsupported. amo's pre-deal leads are "unsorted" entries whose
//     API has no phone search (API-NOTES §1.3), and they turn into deals
//     once accepted, which the deal step finds.
//
// Phone lookup uses the full-text `query` with the number's national
// digits and re-checks every hit's PHONE field with connectors.SamePhone.
// Calls are written as call notes on the entity we matched (deterministic)
// or, without one, through /api/v4/calls, where amo picks the entity by
// phone; category, value and comment go into the note's call_result, and
// later events update the same note. amo webhooks carry no signature: the
// secret is the unguessable hook URL; ParseWebhook also checks the account
// subdomain when the base URL is an amo host.
package amocrm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// Name is the registry name.
const Name = "amocrm"

// Kinds says what each entity kind means in amoCRM.
var Kinds = map[connectors.EntityKind]string{
	connectors.KindDeal:    "lead (сделка) linked to the caller's contact or company",
	connectors.KindContact: "contact or company",
}

// RequestRate is amo's documented limit per account: 7 requests a second.
var RequestRate = connectors.Limit{Name: "api", Rate: 7, Per: time.Second}

func init() {
	connectors.Register(connectors.Info{
		Name:           Name,
		DisplayName:    "amoCRM / Kommo",
		Kinds:          Kinds,
		DefaultBaseURL: "", // per account: https://{subdomain}.amocrm.ru
		Endpoint:       Endpoint,
		Refresh:        Refresh,
		Limits:         []connectors.Limit{RequestRate},
		New:            func(c connectors.Credentials) (connectors.Connector, error) { return New(c), nil },
	})
}

// Interface guards.
var (
	_ connectors.Connector       = (*Client)(nil)
	_ connectors.BatchCallLogger = (*Client)(nil)
	_ connectors.TaskCreator     = (*Client)(nil)
	_ connectors.EntityCreator   = (*Client)(nil)
	_ connectors.OwnedCounter    = (*Client)(nil)
	_ connectors.WebhookParser   = (*Client)(nil)
)

// Client talks to one amoCRM account. It is safe for concurrent use.
type Client struct {
	baseURL string
	http    *http.Client
}

// New returns a Client for the account at c.BaseURL
// (https://{subdomain}.amocrm.ru or .kommo.com; a fake in tests).
func New(c connectors.Credentials) *Client {
	cl := &Client{baseURL: strings.TrimRight(c.BaseURL, "/"), http: c.HTTPClient}
	if cl.http == nil {
		cl.http = http.DefaultClient
	}
	return cl
}

// maxBody bounds what we read from amo.
const maxBody = 8 << 20

// do sends one API request with an optional JSON body and decodes a JSON
// answer into out (nil: discard). It reports false for 204 No Content,
// amo's answer to an empty list.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) (bool, error) {
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return false, fmt.Errorf("encode: %w", err)
		}
		rd = bytes.NewReader(b) // NewRequest sets GetBody: the transport may replay it
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return false, err
	}
	if resp.StatusCode == http.StatusNoContent {
		return false, nil
	}
	if out == nil {
		return true, nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(out); err != nil {
		return false, fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return true, nil
}

// problem is amo's error body (application/problem+json).
type problem struct {
	Title            string `json:"title"`
	Detail           string `json:"detail"`
	Hint             string `json:"hint"`
	ValidationErrors []struct {
		RequestID string `json:"request_id"`
		Errors    []struct {
			Code   string `json:"code"`
			Path   string `json:"path"`
			Detail string `json:"detail"`
		} `json:"errors"`
	} `json:"validation-errors"`
}

func (p problem) String() string {
	s := strings.TrimSpace(p.Title + ": " + p.Detail)
	for _, v := range p.ValidationErrors {
		for _, e := range v.Errors {
			s += fmt.Sprintf("; %s %s", e.Path, e.Detail)
		}
	}
	return strings.Trim(s, ": ")
}

// checkStatus maps amo's answer onto the connectors error kinds
// (connectors.StatusError, with amo's problem details).
func checkStatus(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	var p problem
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p)
	var wait time.Duration
	if resp.StatusCode == http.StatusTooManyRequests {
		wait = connectors.RetryAfter(resp)
	}
	return connectors.StatusError(resp.StatusCode, p.String(), wait)
}

// links is amo's HAL pagination.
type links struct {
	Next *struct {
		Href string `json:"href"`
	} `json:"next"`
}
