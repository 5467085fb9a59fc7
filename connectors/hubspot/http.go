package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

const (
	// maxResponse bounds how much of a response body is read.
	maxResponse = 8 << 20
	// defaultRetryAfter is HubSpot's rolling window, used when a 429
	// names no wait (HubSpot promises no Retry-After: API-NOTES §3.6).
	defaultRetryAfter = 10 * time.Second
)

// do sends one JSON request and decodes the JSON answer into out (nil: the
// body is discarded). Errors are bare; callers add what they were doing.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b) // replayable: the transport may retry
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
		return err // *url.Error; wraps ctx.Err() when the context ended
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
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// apiError is HubSpot's error body (the Error schema, plus the fields a
// 429 carries).
type apiError struct {
	Message    string `json:"message"`
	Category   string `json:"category"`
	PolicyName string `json:"policyName"`
	Errors     []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// checkStatus maps HubSpot's answer onto the connectors error kinds
// (connectors.StatusError, with HubSpot's message). It reads the body of a
// failed response.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var e apiError
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(raw, &e) // best effort: the message is a courtesy
	var wait time.Duration
	if resp.StatusCode == http.StatusTooManyRequests {
		wait = retryAfter(resp.Header, e.PolicyName)
	}
	return connectors.StatusError(resp.StatusCode, e.text(), wait)
}

// text is the error's message, with its category.
func (e apiError) text() string {
	msg := e.Message
	if msg == "" && len(e.Errors) > 0 {
		msg = e.Errors[0].Message
	}
	if e.Category != "" {
		msg = strings.TrimSuffix(e.Category+": "+msg, ": ")
	}
	return msg
}

// retryAfter reads how long HubSpot wants us to wait: Retry-After (seconds
// or an HTTP date), else the secondly policy's one second (search), else
// the window X-HubSpot-RateLimit-Interval-Milliseconds names, else
// defaultRetryAfter.
func retryAfter(h http.Header, policy string) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0)
		}
	}
	if policy == "SECONDLY" {
		return time.Second
	}
	if ms, err := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Interval-Milliseconds")); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return defaultRetryAfter
}
