package pipedrive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

const (
	// maxResponse bounds how much of a response body is read.
	maxResponse = 8 << 20
	// burstWindow is Pipedrive's rate-limit window, the wait a 429 that
	// names none gets.
	burstWindow = 2 * time.Second
)

// envelope is the shape of every Pipedrive answer, v1 and v2: success,
// data, and additional_data (v1 pagination or v2 next_cursor).
type envelope[T any] struct {
	Success        bool           `json:"success"`
	Data           T              `json:"data"`
	AdditionalData additionalData `json:"additional_data"`
}

type additionalData struct {
	// v2 cursor pagination; null on the last page (typed non-nullable in
	// the spec, API-NOTES §4.7).
	NextCursor *string `json:"next_cursor"`
	// v1 offset pagination, as /v1/leads answers it (flat) …
	MoreItems *bool `json:"more_items_in_collection"`
	// … and as most other v1 lists do (nested).
	Pagination *struct {
		MoreItems bool `json:"more_items_in_collection"`
	} `json:"pagination"`
}

// next returns the v2 cursor of the next page, or "" on the last one.
func (a additionalData) next() string {
	if a.NextCursor == nil {
		return ""
	}
	return *a.NextCursor
}

// more reports whether a v1 list has another page.
func (a additionalData) more() bool {
	if a.Pagination != nil {
		return a.Pagination.MoreItems
	}
	return a.MoreItems != nil && *a.MoreItems
}

// get sends a GET with query and decodes the answer into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// do sends one JSON request and decodes the JSON answer into out (nil:
// discard). Errors are bare; callers add what they were doing.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b) // NewRequest sets GetBody: the transport may replay it
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err // *url.Error; wraps ctx.Err() or the pacer's *RateLimitError
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s: %w", method, strings.SplitN(path, "?", 2)[0], err)
	}
	return nil
}

// apiError is Pipedrive's error body.
type apiError struct {
	Error     string `json:"error"`
	ErrorInfo string `json:"error_info"`
	Message   string `json:"message"`
}

func (e apiError) text() string {
	msg := e.Error
	if msg == "" {
		msg = e.Message
	}
	return msg
}

// checkStatus maps Pipedrive's answer onto the connectors error kinds
// (connectors.StatusError, with Pipedrive's message); a 429 waits for
// Retry-After, else x-ratelimit-reset, else the 2-second window.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var e apiError
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(raw, &e) // best effort: the message is a courtesy
	var wait time.Duration
	if resp.StatusCode == http.StatusTooManyRequests {
		wait = retryAfter(resp)
	}
	return connectors.StatusError(resp.StatusCode, e.text(), wait)
}

// retryAfter is how long a 429 asks us to wait.
func retryAfter(resp *http.Response) time.Duration {
	if d := connectors.RetryAfter(resp); d > 0 {
		return d
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get(headerReset))); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	return burstWindow
}

// pdID parses a Pipedrive integer id (persons, deals, users).
func pdID(id string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("id %q is not a Pipedrive id: %w", id, connectors.ErrInvalid)
	}
	return n, nil
}

// optID parses an optional user id: "" is 0.
func optID(id string) (int64, error) {
	if id == "" {
		return 0, nil
	}
	return pdID(id)
}

func idString(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}
