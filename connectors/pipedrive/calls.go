package pipedrive

import (
	"context"
	"errors"
	"fmt"
	"html"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// CallRef.Extra keys.
const (
	// ExtraTarget is the record the call log hangs on, "deal:123",
	// "lead:<uuid>" or "person:45"; later notes go there too.
	ExtraTarget = "target"
	// ExtraNoteID is the note that carries later events about the call.
	ExtraNoteID = "note_id"
)

// callTimeLayout is how call logs want times: UTC "YYYY-MM-DD HH:MM:SS".
const callTimeLayout = time.DateTime

// Call log outcomes (POST /v1/callLogs).
const (
	outcomeConnected = "connected"
	outcomeNoAnswer  = "no_answer"
)

// callLogJSON is addCallLogRequest. A call log hangs on a deal or a lead
// (not both) and/or a person.
type callLogJSON struct {
	UserID          int64  `json:"user_id,omitempty"`
	Subject         string `json:"subject,omitempty"`
	Duration        string `json:"duration"`
	Outcome         string `json:"outcome"`
	FromPhoneNumber string `json:"from_phone_number,omitempty"`
	ToPhoneNumber   string `json:"to_phone_number"`
	StartTime       string `json:"start_time"`
	EndTime         string `json:"end_time"`
	PersonID        int64  `json:"person_id,omitempty"`
	DealID          int64  `json:"deal_id,omitempty"`
	LeadID          string `json:"lead_id,omitempty"`
	Note            string `json:"note,omitempty"`
}

// target is the record a call log, note or activity hangs on.
type target struct {
	PersonID int64  `json:"person_id,omitempty"`
	DealID   int64  `json:"deal_id,omitempty"`
	LeadID   string `json:"lead_id,omitempty"`
}

// noteJSON is addNoteRequest (and, without a target, updateNote's body).
type noteJSON struct {
	Content string `json:"content"`
	target
}

// LogCall implements connectors.Connector: a new call becomes a call log,
// a call with a Ref a note about that call log; see the package comment.
func (c *Client) LogCall(ctx context.Context, call connectors.CallActivity) (connectors.CallRef, error) {
	if call.Ref.ID != "" {
		return c.updateCall(ctx, call)
	}
	in, err := c.callLog(call)
	if err != nil {
		return connectors.CallRef{}, fmt.Errorf("pipedrive: create call log %s: %w", call.ExternalCallID, err)
	}
	var ans envelope[struct {
		ID string `json:"id"`
	}]
	if err := c.do(ctx, "POST", "/v1/callLogs", in, &ans); err != nil {
		return connectors.CallRef{}, fmt.Errorf("pipedrive: create call log %s: %w", call.ExternalCallID, err)
	}
	if ans.Data.ID == "" {
		return connectors.CallRef{}, fmt.Errorf("pipedrive: create call log %s: answer has no id", call.ExternalCallID)
	}
	ref := connectors.CallRef{ID: ans.Data.ID}
	if t := targetKey(call.Entity); t != "" {
		ref.Extra = map[string]string{ExtraTarget: t}
	}
	return ref, nil
}

// callLog renders a call as a call log.
func (c *Client) callLog(call connectors.CallActivity) (callLogJSON, error) {
	owner := call.AnsweredBy
	if owner == "" {
		owner = call.Responsible
	}
	user, err := optID(owner)
	if err != nil {
		return callLogJSON{}, fmt.Errorf("user: %w", err)
	}
	t, err := entityTarget(call.Entity)
	if err != nil {
		return callLogJSON{}, err
	}
	start := call.StartedAt
	if start.IsZero() {
		start = c.now().Add(-call.Duration)
	}
	secs := int64(call.Duration.Round(time.Second) / time.Second)
	to := call.To
	if to == "" {
		to = call.From // required; a call to an unknown line still names the caller
	}
	in := callLogJSON{
		UserID:          user,
		Subject:         subject(call),
		Duration:        strconv.FormatInt(secs, 10),
		Outcome:         outcomeNoAnswer,
		FromPhoneNumber: call.From,
		ToPhoneNumber:   to,
		StartTime:       start.UTC().Format(callTimeLayout),
		EndTime:         start.Add(time.Duration(secs) * time.Second).UTC().Format(callTimeLayout),
		PersonID:        t.PersonID,
		DealID:          t.DealID,
		LeadID:          t.LeadID,
		Note:            noteBody(call),
	}
	if call.Answered {
		in.Outcome = outcomeConnected
	}
	return in, nil
}

// updateCall writes a later event about a logged call as a note on the
// call log's record: a new note the first time, that note rewritten after.
func (c *Client) updateCall(ctx context.Context, call connectors.CallActivity) (connectors.CallRef, error) {
	ref := connectors.CallRef{ID: call.Ref.ID, Extra: maps.Clone(call.Ref.Extra)}
	if ref.Extra == nil {
		ref.Extra = map[string]string{}
	}
	body := noteBody(call)
	if body == "" {
		return ref, nil // nothing a note could add
	}
	content := updateHeading(call, ref.ID) + body
	if id := ref.Extra[ExtraNoteID]; id != "" {
		err := c.do(ctx, "PUT", "/v1/notes/"+url.PathEscape(id), noteJSON{Content: content}, nil)
		if err == nil {
			return ref, nil
		}
		if !errors.Is(err, connectors.ErrNotFound) {
			return connectors.CallRef{}, fmt.Errorf("pipedrive: update note %s of call log %s: %w", id, ref.ID, err)
		}
		// Someone deleted the note in Pipedrive: write a new one.
	}
	key := ref.Extra[ExtraTarget]
	if key == "" {
		key = targetKey(call.Entity)
	}
	t, err := parseTarget(key)
	if err != nil {
		return connectors.CallRef{}, fmt.Errorf("pipedrive: note on call log %s: %w", ref.ID, err)
	}
	var ans envelope[struct {
		ID int64 `json:"id"`
	}]
	if err := c.do(ctx, "POST", "/v1/notes", noteJSON{Content: content, target: t}, &ans); err != nil {
		return connectors.CallRef{}, fmt.Errorf("pipedrive: add note on call log %s: %w", ref.ID, err)
	}
	if ans.Data.ID == 0 {
		return connectors.CallRef{}, fmt.Errorf("pipedrive: add note on call log %s: answer has no id", ref.ID)
	}
	ref.Extra[ExtraNoteID] = idString(ans.Data.ID)
	ref.Extra[ExtraTarget] = key
	return ref, nil
}

// subject is the call log's title; Pipedrive has no direction field, so
// the subject says it.
func subject(call connectors.CallActivity) string {
	var s string
	switch {
	case call.Direction == connectors.Outbound:
		s = "Outbound call to " + call.To
	case !call.Answered:
		s = "Missed call from " + call.From
	default:
		s = "Inbound call from " + call.From
	}
	s = strings.TrimSpace(s)
	if call.Category != "" {
		s += " · " + call.Category
	}
	return s
}

// noteBody renders the category, value, comment and recording link as
// HTML paragraphs (call log notes and notes are HTML), escaped.
func noteBody(call connectors.CallActivity) string {
	var b strings.Builder
	para := func(label, s string) {
		if s = strings.TrimSpace(s); s != "" {
			b.WriteString("<p>" + label + strings.ReplaceAll(html.EscapeString(s), "\n", "<br>") + "</p>")
		}
	}
	para("Category: ", call.Category)
	para("Value: ", call.Value)
	para("", call.Comment)
	if u := strings.TrimSpace(call.RecordingURL); u != "" {
		e := html.EscapeString(u)
		b.WriteString(`<p>Recording: <a href="` + e + `">` + e + `</a></p>`)
	}
	return b.String()
}

// updateHeading opens a note about a logged call: what call, and the call
// log it adds to (the link between the two in Pipedrive's timeline).
func updateHeading(call connectors.CallActivity, logID string) string {
	when := ""
	if !call.StartedAt.IsZero() {
		when = ", " + call.StartedAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	return "<p><b>Call update</b> (call log " + html.EscapeString(logID) + "): " +
		html.EscapeString(subject(connectors.CallActivity{Direction: call.Direction, Answered: call.Answered,
			From: call.From, To: call.To})) + when + "</p>"
}

// entityTarget maps an entity onto a call log's, note's or activity's
// record fields.
func entityTarget(e *connectors.EntityRef) (target, error) {
	if e == nil || e.ID == "" {
		return target{}, nil
	}
	return parseTarget(targetKey(e))
}

// targetKey is ExtraTarget's form of e: "person:1", "deal:2", "lead:<id>".
func targetKey(e *connectors.EntityRef) string {
	if e == nil || e.ID == "" {
		return ""
	}
	switch e.Kind {
	case connectors.KindContact:
		return "person:" + e.ID
	case connectors.KindDeal:
		return "deal:" + e.ID
	case connectors.KindLead:
		return "lead:" + e.ID
	}
	return string(e.Kind) + ":" + e.ID
}

func parseTarget(key string) (target, error) {
	kind, id, ok := strings.Cut(key, ":")
	if !ok || id == "" {
		return target{}, fmt.Errorf("no record to attach to (%q): %w", key, connectors.ErrInvalid)
	}
	var t target
	var err error
	switch kind {
	case "person":
		t.PersonID, err = pdID(id)
	case "deal":
		t.DealID, err = pdID(id)
	case "lead":
		t.LeadID = id // a UUID
	default:
		err = fmt.Errorf("entity kind %q: %w", kind, connectors.ErrUnsupported)
	}
	return t, err
}
