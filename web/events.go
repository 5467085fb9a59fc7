package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/telephony"
)

// POST /api/v1/events: the PBX's call events (issue 7).
//
// Authentication is the tenant's API key (Authorization: Bearer) plus a
// signature with the tenant's signing secret, shown once when the tenant
// was created:
//
//	X-Crmsync-Timestamp: <unix seconds>
//	X-Crmsync-Signature: sha256=<hex HMAC-SHA256(signing secret, timestamp + "." + body)>
//
// where timestamp is the header's value exactly as sent and body the raw
// request body. The timestamp must be within ReplayWindow (5 minutes) of
// our clock; a signed request replayed inside the window is harmless,
// since every event is idempotent, and outside it is refused. Digests are
// compared in constant time.
//
// The body is one event object, or {"events": [...]} with up to MaxEvents.
// Events are accepted or rejected one by one: a rejected event stores
// nothing and the others are stored. The answer is 200 when every event
// was accepted or was a duplicate, and 400 when any was rejected; both
// carry "results" (one per event, by index: accepted, duplicate or
// rejected), and a 400 also carries "error" with one entry per bad field,
// named "events[2].duration_s" (or "duration_s" for a single event).
// Resending a whole batch after fixing it is safe: what was stored is then
// a duplicate.

// Signature headers and limits.
const (
	HeaderTimestamp     = "X-Crmsync-Timestamp"
	HeaderSignature     = "X-Crmsync-Signature"
	DefaultReplayWindow = 5 * time.Minute
	// MaxEvents bounds the events of one request.
	MaxEvents = 500
	// secretTTL is how long a tenant's signing secret is cached.
	secretTTL = time.Minute
)

// CallStore is what the events and calls API needs from storage; *store.DB
// implements it.
type CallStore interface {
	// SigningSecret returns the tenant's HMAC key for call events.
	SigningSecret(ctx context.Context, tenantID int64) (string, error)
	// RecordCallEvents stores valid events in one transaction and says what
	// it did with each.
	RecordCallEvents(ctx context.Context, tenantID int64, events []jobs.CallEvent) (jobs.Recorded, error)
	// CallStatus returns the call with each event's delivery, or ENotFound.
	CallStatus(ctx context.Context, tenantID int64, callID string) (jobs.CallStatus, error)
}

// CallQueue queues the delivery of calls; *jobs.Enqueuer implements it.
type CallQueue interface {
	EnqueueCalls(ctx context.Context, keys []jobs.CallKey) error
}

// Events serves POST /api/v1/events and GET /api/v1/calls/{id}. Server
// mounts it (Server.Events) behind its authentication; set the fields
// before the first request.
type Events struct {
	Calls CallStore
	// Queue queues the calls that got new events, after they are stored.
	// When it fails (or is nil) the events wait for jobs.Sweeper.
	Queue CallQueue
	// ReplayWindow: see DefaultReplayWindow; 0 means that.
	ReplayWindow time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger

	mu      sync.Mutex
	secrets map[int64]cachedSecret
}

type cachedSecret struct {
	secret  string
	expires time.Time
}

// routes registers the API; api wraps each handler in authentication.
func (e *Events) routes(api func(string, func(http.ResponseWriter, *http.Request))) {
	api("POST /api/v1/events", e.handlePostEvents)
	api("GET /api/v1/calls/{id...}", e.handleGetCall)
}

// Handler serves the two routes on their own, behind tenant
// authentication with tenants: for tests and benchmarks.
func (e *Events) Handler(tenants Tenants) http.Handler {
	s := &Server{Tenants: tenants}
	mux := http.NewServeMux()
	e.routes(func(pattern string, h func(http.ResponseWriter, *http.Request)) {
		mux.Handle(pattern, s.authenticate(http.HandlerFunc(h)))
	})
	return mux
}

func (e *Events) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Sign returns the X-Crmsync-Signature value of body sent with the
// X-Crmsync-Timestamp value timestamp.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func signatureError(format string, args ...any) error {
	return telephony.Errorf(telephony.EUnauthorized, "", format, args...)
}

// verify checks the request's timestamp and signature of body.
func (e *Events) verify(r *http.Request, tenantID int64, body []byte) error {
	ts := r.Header.Get(HeaderTimestamp)
	sig := r.Header.Get(HeaderSignature)
	switch {
	case ts == "" && sig == "":
		return signatureError("the request is not signed: send %s (unix seconds) and %s: sha256=<hex HMAC-SHA256 of "+
			"timestamp + \".\" + body with the tenant's signing secret>", HeaderTimestamp, HeaderSignature)
	case ts == "":
		return signatureError("missing %s header: the unix time (seconds) the request was signed at", HeaderTimestamp)
	case sig == "":
		return signatureError("missing %s header: sha256=<hex HMAC-SHA256 of timestamp + \".\" + body>", HeaderSignature)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return signatureError("%s must be unix seconds, got %q", HeaderTimestamp, ts)
	}
	window := e.ReplayWindow
	if window <= 0 {
		window = DefaultReplayWindow
	}
	if skew := e.now().Sub(time.Unix(secs, 0)); skew > window || skew < -window {
		return signatureError("%s is %s off our clock, outside the %s window: sign every request when sending it "+
			"(a replayed request is refused)", HeaderTimestamp, skew.Abs().Truncate(time.Second), window)
	}
	hexSum, ok := strings.CutPrefix(sig, "sha256=")
	got, err := hex.DecodeString(hexSum)
	if !ok || err != nil || len(got) != sha256.Size {
		return signatureError("%s must be sha256=<64 hex digits>", HeaderSignature)
	}
	secret, err := e.secret(r.Context(), tenantID)
	if err != nil {
		return err
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, ts, body), "sha256="))
	if !hmac.Equal(got, want) {
		return signatureError("%s does not match: sign timestamp + \".\" + the exact body bytes with the tenant's "+
			"signing secret (HMAC-SHA256, hex)", HeaderSignature)
	}
	return nil
}

// secret returns the tenant's signing secret, cached for secretTTL.
func (e *Events) secret(ctx context.Context, tenantID int64) (string, error) {
	now := e.now()
	e.mu.Lock()
	c, ok := e.secrets[tenantID]
	e.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.secret, nil
	}
	s, err := e.Calls.SigningSecret(ctx, tenantID)
	if err != nil {
		return "", fmt.Errorf("signing secret: %w", err)
	}
	e.mu.Lock()
	if e.secrets == nil {
		e.secrets = map[int64]cachedSecret{}
	}
	e.secrets[tenantID] = cachedSecret{secret: s, expires: now.Add(secretTTL)}
	e.mu.Unlock()
	return s, nil
}

// eventResult is one event's outcome in the answer.
type eventResult struct {
	Index  int                `json:"index"`
	Status jobs.RecordOutcome `json:"status"`
}

// eventsAnswer is the body of both answers.
type eventsAnswer struct {
	Error      *eventsError  `json:"error,omitempty"`
	Accepted   int           `json:"accepted"`
	Duplicates int           `json:"duplicates"`
	Rejected   int           `json:"rejected"`
	Results    []eventResult `json:"results"`
}

type eventsError struct {
	Code    telephony.Code    `json:"code"`
	Message string            `json:"message"`
	Errors  []eventFieldError `json:"errors"`
}

type eventFieldError struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// handlePostEvents serves POST /api/v1/events.
func (e *Events) handlePostEvents(w http.ResponseWriter, r *http.Request) {
	tn := tenantFrom(r)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		Error(w, r, jsonError(err))
		return
	}
	if err := e.verify(r, tn.ID, body); err != nil {
		Error(w, r, err)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		Error(w, r, telephony.Errorf(telephony.EInvalid, "", "Content-Type must be application/json, got %q", ct))
		return
	}
	raws, batch, err := splitEvents(body)
	if err != nil {
		Error(w, r, err)
		return
	}
	ans := eventsAnswer{Results: make([]eventResult, len(raws))}
	var fieldErrs []eventFieldError
	reject := func(i int, es telephony.Errors) {
		ans.Results[i].Status = jobs.Rejected
		for _, fe := range es {
			field := fe.Field
			if batch {
				field = strings.TrimSuffix(fmt.Sprintf("events[%d].%s", i, fe.Field), ".")
			}
			fieldErrs = append(fieldErrs, eventFieldError{Index: i, Field: field, Message: fe.Message})
		}
	}
	var valid []jobs.CallEvent
	var at []int
	for i, raw := range raws {
		ans.Results[i].Index = i
		ev, es := parseEvent(raw, tn.Region)
		if len(es) > 0 {
			reject(i, es)
			continue
		}
		valid, at = append(valid, ev), append(at, i)
	}
	if len(valid) > 0 {
		rec, err := e.Calls.RecordCallEvents(r.Context(), tn.ID, valid)
		if err != nil {
			Error(w, r, err)
			return
		}
		for j, i := range at {
			ans.Results[i].Status = rec.Outcomes[j]
			if fe, ok := rec.Errors[j]; ok {
				reject(i, telephony.Errors{fe})
			}
		}
		e.enqueue(r.Context(), tn.ID, rec.Calls)
	}
	for _, res := range ans.Results {
		switch res.Status {
		case jobs.Accepted:
			ans.Accepted++
		case jobs.Duplicate:
			ans.Duplicates++
		default:
			ans.Rejected++
		}
	}
	if ans.Rejected == 0 {
		writeJSON(w, http.StatusOK, ans)
		return
	}
	ans.Error = &eventsError{Code: telephony.EInvalid, Errors: fieldErrs,
		Message: fmt.Sprintf("%d of %d events rejected (nothing of them was stored); the others were stored", ans.Rejected, len(raws))}
	if len(raws) == 1 {
		ans.Error.Message = "the event was rejected and nothing of it was stored: " + fieldErrs[0].Field + ": " + fieldErrs[0].Message
	}
	writeJSON(w, http.StatusBadRequest, ans)
}

// enqueue queues the calls' delivery. A failure is logged, not returned:
// the events are stored, and the Sweeper delivers them.
func (e *Events) enqueue(ctx context.Context, tenantID int64, keys []jobs.CallKey) {
	if len(keys) == 0 {
		return
	}
	logger := e.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if e.Queue == nil {
		return
	}
	if err := e.Queue.EnqueueCalls(context.WithoutCancel(ctx), keys); err != nil {
		logger.Warn("events stored but not queued; the sweeper will deliver them", "tenant_id", tenantID, "err", err)
	}
}

// errNotJSONObject is the answer to a body that is neither form.
var errNotJSONObject = telephony.Errorf(telephony.EInvalid, "",
	`the body must be one event object or {"events": [event, …]}`)

// splitEvents returns the raw events of a body and whether it was a batch.
func splitEvents(body []byte) ([][]byte, bool, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, false, telephony.Errorf(telephony.EInvalid, "", "request body is empty; send a JSON object")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, false, malformedJSON(trimmed)
		}
		return nil, false, errNotJSONObject
	}
	top, err := rawObject(trimmed)
	if err != nil {
		return nil, false, err
	}
	rawEvents, ok := top["events"]
	if !ok {
		return [][]byte{trimmed}, false, nil
	}
	if len(top) > 1 {
		return nil, false, telephony.Errorf(telephony.EInvalid, "", `a batch is {"events": [...]} with no other fields`)
	}
	list, err := rawArray(rawEvents)
	if err != nil {
		return nil, false, telephony.Errorf(telephony.EInvalid, "events", "must be an array of event objects")
	}
	switch {
	case len(list) == 0:
		return nil, false, telephony.Errorf(telephony.EInvalid, "events", "is empty; send at least one event")
	case len(list) > MaxEvents:
		return nil, false, telephony.Errorf(telephony.EInvalid, "events", "holds %d events; send at most %d a request", len(list), MaxEvents)
	}
	return list, true, nil
}
