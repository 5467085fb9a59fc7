package connectortest

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Fault is a failure a fake serves instead of its normal answer.
type Fault struct {
	// Status, when set, is the HTTP status to answer with (401, 429, 500…),
	// with the vendor's error body.
	Status int
	// RetryAfter is sent as a Retry-After header (whole seconds, rounded
	// up) with Status.
	RetryAfter time.Duration
	// Delay holds the answer back this long, or until the client gives up.
	// With neither Status nor Malformed, the normal answer follows.
	Delay time.Duration
	// Malformed answers 200 with a truncated JSON body.
	Malformed bool
	// Times is how many requests the fault applies to; 0 means 1.
	Times int
}

// MalformedBody is the body a Malformed fault sends: JSON cut short.
const MalformedBody = `{"_embedded":{"items":[{"id":1,"name":"trunc`

// Inject queues f; faults apply to the next requests in the order injected.
func (b *Backend) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = append(b.faults, f)
}

// NextFault takes the fault for the current request, if one is queued.
func (b *Backend) NextFault() (Fault, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.faults) == 0 {
		return Fault{}, false
	}
	f := b.faults[0]
	if b.faults[0].Times--; b.faults[0].Times <= 0 {
		b.faults = b.faults[1:]
	}
	return f, true
}

// Intercept is the first line of every vendor-fake API handler: it counts
// the request and applies the next injected fault, if any. errorBody (nil
// for an empty body) renders the vendor's error JSON for a status. It
// reports whether the request was answered (or abandoned by the client), in
// which case the handler must return.
func (b *Backend) Intercept(w http.ResponseWriter, r *http.Request, errorBody func(status int) []byte) bool {
	b.mu.Lock()
	b.requests[r.Method+" "+r.URL.Path]++
	b.requests[""]++
	b.mu.Unlock()
	f, ok := b.NextFault()
	if !ok {
		return false
	}
	return ServeFault(w, r, f, errorBody)
}

// ServeFault applies f to one request; see Intercept.
func ServeFault(w http.ResponseWriter, r *http.Request, f Fault, errorBody func(status int) []byte) bool {
	if f.Delay > 0 {
		// Read the body first: only then does the server watch the
		// connection, so a client that gives up ends r.Context().
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	switch {
	case f.Malformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(MalformedBody))
		return true
	case f.Status != 0:
		if f.RetryAfter > 0 {
			secs := int(math.Ceil(f.RetryAfter.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		if errorBody != nil {
			_, _ = w.Write(errorBody(f.Status))
		}
		return true
	}
	return false
}

// Requests returns how many requests Intercept saw for key, "METHOD /path"
// (e.g. "GET /api/v4/users"), or in total for "".
func (b *Backend) Requests(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests[key]
}
