package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/telephony"
)

// handleGetCall serves GET /api/v1/calls/{id}: the call with the PBX's id
// {id} (path-escaped), its state as its events describe it, where it went
// in the CRM (account, record, responsible user, the CRM's ref), and each
// event's delivery: status, attempts, last error, CRM ref.
func (e *Events) handleGetCall(w http.ResponseWriter, r *http.Request) {
	cs, err := e.Calls.CallStatus(r.Context(), tenantFrom(r).ID, r.PathValue("id"))
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

// The call event wire format. Every event has call_id (the PBX's id, the
// SIP Call-ID for calls our router answered; at most 255 bytes), kind, seq
// (an integer ≥ 0, increasing within the call: events are applied in seq
// order, and (call_id, kind, seq) identifies the event) and occurred_at
// (RFC 3339). Any event may carry direction (inbound|outbound), caller and
// callee (alias did): phone numbers, E.164 or national in the tenant's
// region; a caller of "anonymous" is a withheld number. Per kind:
//
//	call.started    direction, caller and callee required
//	call.answered   employee_id or answered_by_contact (a main or other
//	                contact of the employee: phone number or SIP URI), one
//	call.finished   duration_s (0–86400) and answered (boolean) required;
//	                recording_url (http or https) optional
//	call.tagged     category and/or value (each at most 255 characters)
//	call.commented  text (1–10,000 characters): the comment's whole text
//
// Other fields are refused by name; null is the same as absent.

// Event field limits.
const (
	maxCallIDBytes  = 255
	maxTagChars     = 255
	maxCommentChars = 10000
	maxURLBytes     = 2048
	maxDurationS    = 86400
)

// eventField parses one field into ev; kinds limits it to event kinds (nil:
// any). It returns what is wrong, or "".
type eventField struct {
	kinds []jobs.EventKind
	parse func(raw json.RawMessage, ev *jobs.CallEvent, region string) string
}

// eventFields in the order errors are reported.
var eventFieldOrder = []string{"call_id", "seq", "occurred_at", "direction", "caller", "callee", "did",
	"employee_id", "answered_by_contact", "duration_s", "answered", "recording_url", "category", "value", "text"}

var eventFields = map[string]eventField{
	"call_id": {nil, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		s, ok := rawString(raw)
		switch {
		case !ok:
			return "must be a string"
		case strings.TrimSpace(s) == "":
			return "must not be empty"
		case len(s) > maxCallIDBytes:
			return "must be at most 255 bytes"
		case strings.ContainsFunc(s, unicode.IsControl):
			return "must not hold control characters"
		}
		ev.CallID = s
		return ""
	}},
	"seq": {nil, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		n, ok := rawInt(raw)
		if !ok || n < 0 {
			return "must be a whole number ≥ 0"
		}
		ev.Seq = n
		return ""
	}},
	"occurred_at": {nil, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		s, ok := rawString(raw)
		t, err := time.Parse(time.RFC3339Nano, s)
		if !ok || err != nil {
			return `must be an RFC 3339 time such as "2025-01-02T15:04:05Z"`
		}
		ev.OccurredAt = t.UTC()
		return ""
	}},
	"direction": {nil, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		s, _ := rawString(raw)
		if s != string(connectors.Inbound) && s != string(connectors.Outbound) {
			return "must be inbound or outbound"
		}
		ev.Direction = connectors.Direction(s)
		return ""
	}},
	"caller": {nil, func(raw json.RawMessage, ev *jobs.CallEvent, region string) string {
		s, ok := rawString(raw)
		if ok && (strings.EqualFold(strings.TrimSpace(s), "anonymous") || mapping.IsAnonymous(s)) {
			ev.Caller = ""
			return ""
		}
		n, msg := eventPhone(raw, region)
		ev.Caller = n
		return msg
	}},
	"callee": {nil, func(raw json.RawMessage, ev *jobs.CallEvent, region string) string {
		n, msg := eventPhone(raw, region)
		ev.Callee = n
		return msg
	}},
	"did": {nil, func(raw json.RawMessage, ev *jobs.CallEvent, region string) string {
		n, msg := eventPhone(raw, region)
		if msg == "" && ev.Callee != "" && ev.Callee != n {
			return "is another name for callee; give one of them"
		}
		ev.Callee = n
		return msg
	}},
	"employee_id": {[]jobs.EventKind{jobs.EventAnswered}, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		n, ok := rawInt(raw)
		if !ok || n <= 0 {
			return "must be an employee id"
		}
		ev.EmployeeID = n
		return ""
	}},
	"answered_by_contact": {[]jobs.EventKind{jobs.EventAnswered}, func(raw json.RawMessage, ev *jobs.CallEvent, region string) string {
		s, ok := rawString(raw)
		if !ok {
			return "must be a string: a phone number or SIP URI"
		}
		c, err := mapping.Contact(s, region)
		if err != nil {
			return "must be a phone number or SIP URI: " + mappingReason(err)
		}
		ev.AnsweredByContact = c.Value
		return ""
	}},
	"duration_s": {[]jobs.EventKind{jobs.EventFinished}, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		n, ok := rawInt(raw)
		if !ok || n < 0 || n > maxDurationS {
			return "must be a whole number of seconds from 0 to 86400"
		}
		ev.DurationS = &n
		return ""
	}},
	"answered": {[]jobs.EventKind{jobs.EventFinished}, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return "must be true or false"
		}
		ev.Answered = &b
		return ""
	}},
	"recording_url": {[]jobs.EventKind{jobs.EventFinished}, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		s, ok := rawString(raw)
		u, err := url.Parse(s)
		if !ok || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > maxURLBytes {
			return "must be an http or https URL of at most 2048 bytes"
		}
		ev.RecordingURL = s
		return ""
	}},
	"category": {[]jobs.EventKind{jobs.EventTagged}, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		s, msg := eventText(raw, maxTagChars)
		ev.Category = s
		return msg
	}},
	"value": {[]jobs.EventKind{jobs.EventTagged}, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		s, msg := eventText(raw, maxTagChars)
		ev.Value = s
		return msg
	}},
	"text": {[]jobs.EventKind{jobs.EventCommented}, func(raw json.RawMessage, ev *jobs.CallEvent, _ string) string {
		s, msg := eventText(raw, maxCommentChars)
		ev.Text = s
		return msg
	}},
}

// parseEvent validates one raw event for a tenant in region and returns it
// normalised, or every problem with it.
func parseEvent(raw []byte, region string) (jobs.CallEvent, telephony.Errors) {
	var ev jobs.CallEvent
	var es telephony.Errors
	obj, err := rawObject(raw)
	if err != nil {
		es.Add("", "must be a JSON object")
		return ev, es
	}
	for name, v := range obj {
		if string(v) == "null" {
			delete(obj, name)
		}
	}
	kindRaw, hasKind := obj["kind"]
	kind, _ := rawString(kindRaw)
	ev.Kind = jobs.EventKind(kind)
	switch {
	case !hasKind:
		es.Add("kind", "is required: one of call.started, call.answered, call.finished, call.tagged, call.commented")
	case !ev.Kind.Valid():
		es.Add("kind", "must be one of call.started, call.answered, call.finished, call.tagged, call.commented")
	}
	for name := range obj {
		if _, ok := eventFields[name]; !ok && name != "kind" {
			es.Add(name, "unknown field")
		}
	}
	for _, name := range eventFieldOrder {
		raw, ok := obj[name]
		if !ok {
			continue
		}
		f := eventFields[name]
		if f.kinds != nil && ev.Kind.Valid() && !kindAllows(ev.Kind, f.kinds) {
			es.Add(name, "is not a field of %s events (it belongs to %s)", ev.Kind, f.kinds[0])
			continue
		}
		if msg := f.parse(raw, &ev, region); msg != "" {
			es.Add(name, "%s", msg)
		}
	}
	for _, name := range []string{"call_id", "seq", "occurred_at"} {
		if _, ok := obj[name]; !ok {
			es.Add(name, "is required")
		}
	}
	es = append(es, requiredFields(ev.Kind, obj)...)
	return ev, es
}

// required reports the fields kind needs that obj lacks.
func requiredFields(kind jobs.EventKind, obj map[string]json.RawMessage) telephony.Errors {
	var es telephony.Errors
	has := func(name string) bool { _, ok := obj[name]; return ok }
	need := func(names ...string) {
		for _, n := range names {
			if !has(n) {
				es.Add(n, "is required for %s events", kind)
			}
		}
	}
	switch kind {
	case jobs.EventStarted:
		need("direction", "caller")
		if !has("callee") && !has("did") {
			es.Add("callee", "is required for %s events (or did)", kind)
		}
	case jobs.EventAnswered:
		switch {
		case !has("employee_id") && !has("answered_by_contact"):
			es.Add("employee_id", "is required for %s events: who answered, or answered_by_contact", kind)
		case has("employee_id") && has("answered_by_contact"):
			es.Add("answered_by_contact", "give employee_id or answered_by_contact, not both")
		}
	case jobs.EventFinished:
		need("duration_s", "answered")
	case jobs.EventTagged:
		if !has("category") && !has("value") {
			es.Add("category", "is required for %s events (category, value or both)", kind)
		}
	case jobs.EventCommented:
		need("text")
	}
	return es
}

func kindAllows(k jobs.EventKind, kinds []jobs.EventKind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

func rawString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonInt reads a JSON number without fraction or exponent.
func rawInt(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// phone reads a phone number in E.164, or national in region.
func eventPhone(raw json.RawMessage, region string) (string, string) {
	s, ok := rawString(raw)
	if !ok {
		return "", "must be a string: a phone number"
	}
	n, err := mapping.E164(s, region)
	if err != nil {
		return "", "must be a phone number, E.164 or national in region " + region + ": " + mappingReason(err)
	}
	return n, ""
}

// reason is the part of a mapping error that says what is wrong.
func mappingReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, `": `); i >= 0 {
		return msg[i+3:]
	}
	return msg
}

// text reads a non-empty string of at most limit characters.
func eventText(raw json.RawMessage, limit int) (string, string) {
	s, ok := rawString(raw)
	switch {
	case !ok:
		return "", "must be a string"
	case strings.TrimSpace(s) == "":
		return "", "must not be empty"
	case utf8.RuneCountInString(s) > limit:
		return "", "must be at most " + strconv.Itoa(limit) + " characters"
	}
	return strings.TrimSpace(s), ""
}

// decodeObject decodes a JSON object into its raw fields.
func rawObject(b []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&obj); err != nil {
		return nil, malformedJSON(b)
	}
	if dec.More() || obj == nil {
		return nil, errNotJSONObject
	}
	return obj, nil
}

func rawArray(b json.RawMessage) ([][]byte, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, err
	}
	out := make([][]byte, len(list))
	for i, r := range list {
		out[i] = r
	}
	return out, nil
}

// malformed describes what is wrong with a body that is not JSON.
func malformedJSON(b []byte) error {
	var v any
	err := json.Unmarshal(b, &v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return telephony.Errorf(telephony.EInvalid, "", "malformed JSON at byte %d: %v", syn.Offset, err)
	}
	if err != nil {
		return telephony.Errorf(telephony.EInvalid, "", "malformed JSON: %v", err)
	}
	return errNotJSONObject
}
