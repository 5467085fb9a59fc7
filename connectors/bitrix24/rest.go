package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

const (
	// maxBody bounds what we read from Bitrix24.
	maxBody = 8 << 20
	// maxBatch is the most sub-requests one batch carries.
	maxBatch = 50
	// pageSize is Bitrix24's fixed list page.
	pageSize = 50
	// maxErrorText bounds the vendor text quoted in an error.
	maxErrorText = 300
	// queryLimitWait is how long to back off after QUERY_LIMIT_EXCEEDED,
	// which names no wait: a second drains two requests from the bucket.
	queryLimitWait = time.Second
	// operationLimitWait is the back-off after OPERATION_TIME_LIMIT without
	// Retry-After: the method's time budget resets minute by minute.
	operationLimitWait = time.Minute
)

// apiError is Bitrix24's error body.
type apiError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e apiError) String() string {
	s := strings.TrimSpace(strings.Trim(e.Code+": "+e.Description, ": "))
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "…"
	}
	if s == "" {
		return ""
	}
	return " " + s
}

// Error codes that need the account relinked (or the app reinstalled).
var unauthorizedCodes = map[string]bool{
	"expired_token": true, "invalid_token": true, "NO_AUTH_FOUND": true, "INVALID_CREDENTIALS": true,
	"insufficient_scope": true, "user_access_error": true, "authorization_error": true,
}

// Error codes worth a retry whatever the status says.
var transientCodes = map[string]bool{
	"INTERNAL_SERVER_ERROR": true, "ERROR_UNEXPECTED_ANSWER": true, "OVERLOAD_LIMIT": true,
}

// vendorError is a Bitrix24 error answer; classify wraps it together with
// the connectors error kind, so callers can still read Bitrix24's code.
type vendorError struct {
	Status int
	apiError
}

func (e *vendorError) Error() string { return fmt.Sprintf("status %d%s", e.Status, e.apiError) }

// errorCode returns the Bitrix24 error code err carries, or "".
func errorCode(err error) string {
	if ve, ok := errors.AsType[*vendorError](err); ok {
		return ve.Code
	}
	return ""
}

// classify maps a Bitrix24 error onto the connectors error kinds:
// QUERY_LIMIT_EXCEEDED (503) and 429/OPERATION_TIME_LIMIT →
// *RateLimitError; 401 and the token and permission codes →
// ErrUnauthorized; NOT_FOUND, ERROR_NOT_FOUND and "Not found" →
// ErrNotFound (and ErrInvalid: retrying will not make it appear); other
// 4xx and error answers → ErrInvalid; 5xx → a plain (transient) error.
// header may be nil (a batch sub-request).
func (e apiError) classify(status int, header http.Header) error {
	ve := &vendorError{Status: status, apiError: e}
	switch {
	case e.Code == "QUERY_LIMIT_EXCEEDED":
		return fmt.Errorf("%w: %w", ve, &connectors.RateLimitError{RetryAfter: retryAfter(header, queryLimitWait)})
	case status == http.StatusTooManyRequests || e.Code == "OPERATION_TIME_LIMIT":
		return fmt.Errorf("%w: %w", ve, &connectors.RateLimitError{RetryAfter: retryAfter(header, operationLimitWait)})
	case status == http.StatusUnauthorized || unauthorizedCodes[e.Code]:
		return fmt.Errorf("%w: %w", ve, connectors.ErrUnauthorized)
	case e.notFound():
		return fmt.Errorf("%w: %w: %w", ve, connectors.ErrNotFound, connectors.ErrInvalid)
	case status >= 500 || transientCodes[e.Code]:
		return ve
	default:
		return fmt.Errorf("%w: %w", ve, connectors.ErrInvalid)
	}
}

func (e apiError) notFound() bool {
	switch e.Code {
	case "NOT_FOUND", "ERROR_NOT_FOUND":
		return true
	case "", "ERROR_CORE":
		return strings.Contains(strings.ToLower(e.Description), "not found")
	}
	return false
}

func retryAfter(h http.Header, def time.Duration) time.Duration {
	if h != nil {
		if d := connectors.RetryAfter(&http.Response{Header: h}); d > 0 {
			return d
		}
	}
	return def
}

// checkStatus maps a failed answer onto the connectors error kinds; see
// apiError.classify. It reads the body.
func checkStatus(resp *http.Response) error {
	var e apiError
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(raw, &e) // best effort: the code refines the status
	return e.classify(resp.StatusCode, resp.Header)
}

// envelope is Bitrix24's answer: {"result": …, "total": …, "next": …,
// "time": {…}}, or an error.
type envelope struct {
	Result any `json:"result"`
	Total  int `json:"total"`
	Next   int `json:"next"`
	apiError
}

// page is the paging part of an answer.
type page struct{ Total, Next int }

// call runs one REST method with form-encoded params and decodes its
// result into out (nil: discard). Errors are bare; callers say what they
// were doing.
func (c *Client) call(ctx context.Context, method string, params url.Values, out any) (page, error) {
	return c.post(ctx, method, params.Encode(), out)
}

func (c *Client) post(ctx context.Context, method, form string, out any) (page, error) {
	// strings.Reader: NewRequest sets GetBody, so the transport may replay it.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+method, strings.NewReader(form))
	if err != nil {
		return page{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return page{}, err // *url.Error; wraps ctx.Err() when the context ended
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return page{}, checkStatus(resp)
	}
	env := envelope{Result: out}
	if out == nil {
		env.Result = new(json.RawMessage)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&env); err != nil {
		return page{}, fmt.Errorf("decode %s: %w", method, err)
	}
	if env.Code != "" {
		return page{}, env.apiError.classify(resp.StatusCode, resp.Header)
	}
	return page{Total: env.Total, Next: env.Next}, nil
}

// command is one batch sub-request.
type command struct {
	key    string // never numeric: Bitrix24 would answer a JSON list
	method string
	params url.Values
}

// batchAnswer is the result of batch, keyed by command.
type batchAnswer struct {
	Result phpMap[json.RawMessage] `json:"result"`
	Errors phpMap[apiError]        `json:"result_error"`
	Total  phpMap[int]             `json:"result_total"`
	Next   phpMap[int]             `json:"result_next"`
}

// batch runs up to maxBatch commands in one request, in order, without
// halting on errors; sub-request errors are in the answer (see decode).
// Later commands may refer to earlier results as $result[key][FIELD].
func (c *Client) batch(ctx context.Context, cmds []command) (*batchAnswer, error) {
	if len(cmds) > maxBatch {
		return nil, fmt.Errorf("batch of %d commands, at most %d", len(cmds), maxBatch)
	}
	// Written by hand: url.Values.Encode sorts keys, and order matters.
	var b bytes.Buffer
	b.WriteString("halt=0")
	for _, cmd := range cmds {
		b.WriteString("&cmd%5B")
		b.WriteString(url.QueryEscape(cmd.key))
		b.WriteString("%5D=")
		b.WriteString(url.QueryEscape(cmd.method + "?" + cmd.params.Encode()))
	}
	var ans batchAnswer
	if _, err := c.post(ctx, "batch", b.String(), &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

// decode decodes the result of the command key into out. It returns the
// command's error, classified, or an error when the answer lacks it.
func (a *batchAnswer) decode(key string, out any) error {
	if e, ok := a.Errors[key]; ok {
		return e.classify(http.StatusBadRequest, nil)
	}
	raw, ok := a.Result[key]
	if !ok {
		return fmt.Errorf("batch answer lacks %s", key)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// phpMap is a JSON object that PHP writes as [] when it is empty.
type phpMap[T any] map[string]T

// UnmarshalJSON implements json.Unmarshaler.
func (m *phpMap[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var list []T
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		*m = make(phpMap[T], len(list))
		for i, v := range list {
			(*m)[fmt.Sprint(i)] = v
		}
		return nil
	}
	return json.Unmarshal(b, (*map[string]T)(m))
}
