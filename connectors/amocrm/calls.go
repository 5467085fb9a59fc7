package amocrm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/connectors"
)

// batchSize is the most records one amo write carries.
const batchSize = 50

// source names us in amo's call records.
const source = "crmsync"

// amo call_status values.
const (
	callStatusTalked     = 4 // разговор состоялся
	callStatusNotReached = 6 // не дозвонился
)

type noteParams struct {
	Uniq            string `json:"uniq,omitempty"`
	Duration        int64  `json:"duration"`
	Source          string `json:"source"`
	Link            string `json:"link,omitempty"`
	Phone           string `json:"phone"`
	CallResult      string `json:"call_result,omitempty"`
	CallStatus      int    `json:"call_status"`
	CallResponsible int64  `json:"call_responsible,omitempty"`
}

// noteJSON is a call note, POSTed to create and PATCHed to update.
type noteJSON struct {
	ID                int64      `json:"id,omitempty"`
	EntityID          int64      `json:"entity_id,omitempty"`
	NoteType          string     `json:"note_type"`
	Params            noteParams `json:"params"`
	CreatedBy         int64      `json:"created_by,omitempty"`
	ResponsibleUserID int64      `json:"responsible_user_id,omitempty"`
	CreatedAt         int64      `json:"created_at,omitempty"`
	RequestID         string     `json:"request_id"`
}

// callJSON is one entry of POST /api/v4/calls.
type callJSON struct {
	Direction         string `json:"direction"`
	Uniq              string `json:"uniq,omitempty"`
	Duration          int64  `json:"duration"`
	Source            string `json:"source"`
	Link              string `json:"link,omitempty"`
	Phone             string `json:"phone"`
	CallResult        string `json:"call_result,omitempty"`
	CallStatus        int    `json:"call_status"`
	CallResponsible   int64  `json:"call_responsible,omitempty"`
	ResponsibleUserID int64  `json:"responsible_user_id,omitempty"`
	CreatedBy         int64  `json:"created_by,omitempty"`
	CreatedAt         int64  `json:"created_at,omitempty"`
	RequestID         string `json:"request_id"`
}

type writeAnswer struct {
	Embedded struct {
		Notes []writtenJSON `json:"notes"`
		Calls []writtenJSON `json:"calls"`
		Tasks []writtenJSON `json:"tasks"`
	} `json:"_embedded"`
	Errors []struct {
		RequestID string `json:"request_id"`
		Title     string `json:"title"`
		Detail    string `json:"detail"`
	} `json:"errors"`
}

type writtenJSON struct {
	ID         int64  `json:"id"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"`
	RequestID  string `json:"request_id"`
}

// LogCall implements connectors.Connector; see the package comment.
func (c *Client) LogCall(ctx context.Context, call connectors.CallActivity) (connectors.CallRef, error) {
	res, err := c.LogCalls(ctx, []connectors.CallActivity{call})
	if err != nil {
		return connectors.CallRef{}, err
	}
	return res[0].Ref, res[0].Err
}

// MaxBatch implements connectors.BatchCallLogger.
func (c *Client) MaxBatch() int { return batchSize }

// LogCalls implements connectors.BatchCallLogger: updates are one PATCH of
// notes per entity type, new calls on a known entity one POST of notes per
// entity type, the rest one POST /api/v4/calls, each at most 50 a request.
// A failed request fails the entries it carried; the error is returned
// only when no request succeeded, so written refs are never lost.
func (c *Client) LogCalls(ctx context.Context, calls []connectors.CallActivity) ([]connectors.CallResult, error) {
	out := make([]connectors.CallResult, len(calls))
	type group struct{ method, path string }
	groups := map[group][]int{}
	var order []group
	for i, call := range calls {
		g := group{"POST", "/api/v4/calls"}
		switch {
		case call.Ref.ID != "":
			typ := call.Ref.Extra["entity_type"]
			if typ == "" && call.Entity != nil {
				typ, _ = entityType(*call.Entity)
			}
			if typ == "" {
				out[i].Err = fmt.Errorf("amocrm: log call %s: ref without entity type: %w", call.ExternalCallID, connectors.ErrInvalid)
				continue
			}
			g = group{"PATCH", "/api/v4/" + typ + "/notes"}
		case call.Entity != nil:
			typ, err := entityType(*call.Entity)
			if err != nil {
				out[i].Err = fmt.Errorf("amocrm: log call %s: %w", call.ExternalCallID, err)
				continue
			}
			g = group{"POST", "/api/v4/" + typ + "/notes"}
		}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
	}
	var firstErr error
	wrote := false
	for _, g := range order {
		for idx := range slices.Chunk(groups[g], batchSize) {
			err := c.writeCalls(ctx, g.method, g.path, calls, idx, out)
			if err != nil {
				err = fmt.Errorf("amocrm: log calls: %s %s: %w", g.method, g.path, err)
				if firstErr == nil {
					firstErr = err
				}
				for _, i := range idx {
					out[i].Err = err
				}
				continue
			}
			wrote = true
		}
	}
	if !wrote && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// writeCalls sends one request for calls[idx] and fills out[idx].
func (c *Client) writeCalls(ctx context.Context, method, path string, calls []connectors.CallActivity, idx []int, out []connectors.CallResult) error {
	body := make([]any, 0, len(idx))
	for n, i := range idx {
		b, err := wireCall(calls[i], path, strconv.Itoa(n))
		if err != nil {
			return err
		}
		body = append(body, b)
	}
	var ans writeAnswer
	if _, err := c.do(ctx, method, path, nil, body, &ans); err != nil {
		return err
	}
	written := ans.Embedded.Notes
	if strings.HasSuffix(path, "/calls") {
		written = ans.Embedded.Calls
	}
	done := make([]bool, len(idx))
	for k, w := range written {
		n, err := strconv.Atoi(w.RequestID)
		if err != nil || n < 0 || n >= len(idx) {
			n = k // no usable request_id: amo answers in order
		}
		if n >= len(idx) {
			continue
		}
		done[n] = true
		out[idx[n]].Ref = callRef(calls[idx[n]], w, path)
	}
	for _, e := range ans.Errors {
		if n, err := strconv.Atoi(e.RequestID); err == nil && n >= 0 && n < len(idx) {
			done[n] = true
			out[idx[n]].Err = fmt.Errorf("amocrm: log call %s: %s %s: %w",
				calls[idx[n]].ExternalCallID, e.Title, e.Detail, connectors.ErrNotFound)
		}
	}
	for n, ok := range done {
		if !ok {
			out[idx[n]].Err = fmt.Errorf("amocrm: log call %s: not in amo's answer", calls[idx[n]].ExternalCallID)
		}
	}
	return nil
}

// callRef is the reference to the note amo wrote for call.
func callRef(call connectors.CallActivity, w writtenJSON, path string) connectors.CallRef {
	if call.Ref.ID != "" {
		return call.Ref
	}
	typ := strings.TrimSuffix(strings.TrimPrefix(path, "/api/v4/"), "/notes")
	if typ == "calls" {
		typ = plural(w.EntityType)
	}
	return connectors.CallRef{ID: id(w.ID), Extra: map[string]string{"entity_type": typ, "entity_id": id(w.EntityID)}}
}

// plural turns amo's singular entity type into its path segment.
func plural(t string) string {
	switch t {
	case "company":
		return "companies"
	case "contact", "lead", "customer":
		return t + "s"
	}
	return t
}

// entityType is the amo path segment for ref.
func entityType(ref connectors.EntityRef) (string, error) {
	switch {
	case ref.Kind == connectors.KindDeal:
		return "leads", nil
	case ref.Kind == connectors.KindContact && strings.HasPrefix(ref.ID, companyPrefix):
		return "companies", nil
	case ref.Kind == connectors.KindContact:
		return "contacts", nil
	}
	return "", fmt.Errorf("entity kind %q: %w", ref.Kind, connectors.ErrUnsupported)
}

// callResult is the note's free text: category, value and comment.
func callResult(call connectors.CallActivity) string {
	var parts []string
	for _, s := range []string{call.Category, call.Value, call.Comment} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " · ")
}

// wireCall builds the JSON for one call: a note for a notes path, a call
// for /api/v4/calls.
func wireCall(call connectors.CallActivity, path, requestID string) (any, error) {
	answeredBy, err1 := optID(call.AnsweredBy)
	responsible, err2 := optID(call.Responsible)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("call %s: %w", call.ExternalCallID, err)
	}
	status := callStatusNotReached
	if call.Answered {
		status = callStatusTalked
	}
	phone := call.From // the customer's number
	if phone == "" {
		phone = call.To
	}
	createdBy := cmpID(answeredBy, responsible)
	var created int64
	if !call.StartedAt.IsZero() {
		created = call.StartedAt.Unix()
	}
	params := noteParams{
		Uniq: call.ExternalCallID, Duration: int64(call.Duration.Seconds()), Source: source,
		Link: call.RecordingURL, Phone: phone, CallResult: callResult(call),
		CallStatus: status, CallResponsible: answeredBy,
	}
	if strings.HasSuffix(path, "/calls") {
		direction := "inbound"
		if call.Direction == connectors.Outbound {
			direction = "outbound"
		}
		return callJSON{Direction: direction, Uniq: params.Uniq, Duration: params.Duration, Source: source,
			Link: params.Link, Phone: phone, CallResult: params.CallResult, CallStatus: status,
			CallResponsible: answeredBy, ResponsibleUserID: responsible, CreatedBy: createdBy,
			CreatedAt: created, RequestID: requestID}, nil
	}
	note := noteJSON{NoteType: "call_in", Params: params, CreatedBy: createdBy,
		ResponsibleUserID: responsible, CreatedAt: created, RequestID: requestID}
	if call.Direction == connectors.Outbound {
		note.NoteType = "call_out"
	}
	if call.Ref.ID != "" {
		if note.ID, err1 = amoID(call.Ref.ID); err1 != nil {
			return nil, fmt.Errorf("call %s: ref: %w", call.ExternalCallID, err1)
		}
		note.CreatedBy, note.CreatedAt = 0, 0 // not editable
		return note, nil
	}
	if note.EntityID, err1 = amoID(call.Entity.ID); err1 != nil {
		return nil, fmt.Errorf("call %s: entity: %w", call.ExternalCallID, err1)
	}
	return note, nil
}

func cmpID(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}
