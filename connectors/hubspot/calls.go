package hubspot

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// maxBatch is how many inputs one /batch/* request may carry.
const maxBatch = 100

// Association type ids from a call to the entity it is about
// (HUBSPOT_DEFINED). Contact 194 and deal 206 are HubSpot's defaults, as
// HubSpot's own front-end code lists them. Call→lead 597 is the inverse
// of the documented lead→call 596 and is UNVERIFIED (API-NOTES §9: read
// GET /crm/v4/associations/calls/leads/labels on a live portal).
var callAssociationType = map[connectors.EntityKind]int{
	connectors.KindContact: 194,
	connectors.KindDeal:    206,
	connectors.KindLead:    597,
}

// Call outcomes (hs_call_disposition): the GUIDs of HubSpot's default
// "Connected" and "No answer" outcomes, the same in every portal.
const (
	dispositionConnected = "f240bbac-87c9-4f6e-bf70-924b57d47db7"
	dispositionNoAnswer  = "73a0d17f-1163-4015-bdd5-ec830791da20"
)

// callCreate is SimplePublicObjectInputForCreate (and, with a trace id,
// SimplePublicObjectBatchInputForCreate). HubSpot's document requires
// associations, so an unattached call sends an empty list.
type callCreate struct {
	Properties         map[string]string `json:"properties"`
	Associations       []association     `json:"associations"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId,omitempty"`
}

// callUpdate is SimplePublicObjectInput (and, with an id,
// SimplePublicObjectBatchInput).
type callUpdate struct {
	ID         string            `json:"id,omitempty"`
	Properties map[string]string `json:"properties"`
}

type association struct {
	To    objectID          `json:"to"`
	Types []associationSpec `json:"types"`
}

type objectID struct {
	ID string `json:"id"`
}

type associationSpec struct {
	Category string `json:"associationCategory"`
	TypeID   int    `json:"associationTypeId"`
}

// associations returns the call's association with its entity, if any.
func associations(e *connectors.EntityRef) []association {
	if e == nil || e.ID == "" {
		return []association{}
	}
	typeID, ok := callAssociationType[e.Kind]
	if !ok {
		return []association{}
	}
	return []association{{
		To:    objectID{ID: e.ID},
		Types: []associationSpec{{Category: "HUBSPOT_DEFINED", TypeID: typeID}},
	}}
}

// callProperties renders a call as HubSpot call properties. The owner is
// who answered, else the responsible manager. now stands in for a missing
// start time, because hs_timestamp is required.
func callProperties(call connectors.CallActivity, now time.Time) map[string]string {
	started := call.StartedAt
	if started.IsZero() {
		started = now
	}
	p := map[string]string{
		"hs_timestamp":     strconv.FormatInt(started.UnixMilli(), 10),
		"hs_call_duration": strconv.FormatInt(call.Duration.Milliseconds(), 10),
		"hs_call_title":    callTitle(call),
	}
	switch call.Direction {
	case connectors.Inbound:
		p["hs_call_direction"] = "INBOUND"
	case connectors.Outbound:
		p["hs_call_direction"] = "OUTBOUND"
	}
	if call.Answered {
		p["hs_call_status"], p["hs_call_disposition"] = "COMPLETED", dispositionConnected
	} else {
		p["hs_call_status"], p["hs_call_disposition"] = "NO_ANSWER", dispositionNoAnswer
	}
	set := func(k, v string) {
		if v != "" {
			p[k] = v
		}
	}
	set("hs_call_from_number", call.From)
	set("hs_call_to_number", call.To)
	set("hs_call_recording_url", call.RecordingURL)
	set("hs_call_external_id", call.ExternalCallID)
	set("hs_call_body", callBody(call))
	owner := call.AnsweredBy
	if owner == "" {
		owner = call.Responsible
	}
	set("hubspot_owner_id", owner)
	return p
}

func callTitle(call connectors.CallActivity) string {
	switch {
	case call.Direction == connectors.Outbound:
		return strings.TrimSpace("Outbound call to " + call.To)
	case !call.Answered:
		return strings.TrimSpace("Missed call from " + call.From)
	default:
		return strings.TrimSpace("Inbound call from " + call.From)
	}
}

// callBody renders the category, value and comment as hs_call_body, which
// HubSpot shows as HTML: one paragraph each, escaped.
func callBody(call connectors.CallActivity) string {
	var b strings.Builder
	para := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			b.WriteString("<p>" + html.EscapeString(s) + "</p>")
		}
	}
	if call.Category != "" {
		para("Category: " + call.Category)
	}
	if call.Value != "" {
		para("Value: " + call.Value)
	}
	para(call.Comment)
	return b.String()
}

// LogCall implements connectors.Connector: it creates a call engagement
// associated with call.Entity, or, when call.Ref is set, updates that
// engagement's properties (its associations stay as created).
func (c *Client) LogCall(ctx context.Context, call connectors.CallActivity) (connectors.CallRef, error) {
	props := callProperties(call, c.now())
	var o object
	if call.Ref.ID != "" {
		path := callsPath + "/" + url.PathEscape(call.Ref.ID)
		if err := c.do(ctx, "PATCH", path, callUpdate{Properties: props}, &o); err != nil {
			return connectors.CallRef{}, fmt.Errorf("hubspot: update call %s: %w", call.Ref.ID, err)
		}
		return call.Ref, nil
	}
	in := callCreate{Properties: props, Associations: associations(call.Entity)}
	if err := c.do(ctx, "POST", callsPath, in, &o); err != nil {
		return connectors.CallRef{}, fmt.Errorf("hubspot: create call %s: %w", call.ExternalCallID, err)
	}
	if o.ID == "" {
		return connectors.CallRef{}, fmt.Errorf("hubspot: create call %s: answer has no id", call.ExternalCallID)
	}
	return connectors.CallRef{ID: o.ID}, nil
}

// MaxBatch implements connectors.BatchCallLogger: HubSpot's batch
// endpoints take up to 100 inputs.
func (c *Client) MaxBatch() int { return maxBatch }

// batchResponse is BatchResponseSimplePublicObject(WithErrors).
type batchResponse struct {
	Results []object `json:"results"`
	Errors  []struct {
		Category string              `json:"category"`
		Message  string              `json:"message"`
		Context  map[string][]string `json:"context"`
	} `json:"errors"`
}

// LogCalls implements connectors.BatchCallLogger: new calls go through
// batch/create and calls with a Ref through batch/update, 100 per request.
// HubSpot does not promise results in input order, so creates are matched
// by objectWriteTraceId and updates by id. When a request fails after
// earlier ones have written, its calls (and those not yet sent) carry the
// error in their entries, so the written refs are not lost; the error is
// returned only when nothing was written.
func (c *Client) LogCalls(ctx context.Context, calls []connectors.CallActivity) ([]connectors.CallResult, error) {
	out := make([]connectors.CallResult, len(calls))
	var creates, updates []int
	for i, call := range calls {
		if call.Ref.ID == "" {
			creates = append(creates, i)
		} else {
			updates = append(updates, i)
		}
	}
	var chunks [][]int
	chunks = slices.AppendSeq(chunks, slices.Chunk(creates, maxBatch))
	nCreate := len(chunks)
	chunks = slices.AppendSeq(chunks, slices.Chunk(updates, maxBatch))
	for n, chunk := range chunks {
		var err error
		if n < nCreate {
			err = c.batchCreate(ctx, calls, chunk, out)
		} else {
			err = c.batchUpdate(ctx, calls, chunk, out)
		}
		if err == nil {
			continue
		}
		if n == 0 {
			return nil, err
		}
		for _, rest := range chunks[n:] {
			for _, i := range rest {
				out[i] = connectors.CallResult{Err: err}
			}
		}
		break
	}
	return out, nil
}

func (c *Client) batchCreate(ctx context.Context, calls []connectors.CallActivity, idx []int, out []connectors.CallResult) error {
	now := c.now()
	in := struct {
		Inputs []callCreate `json:"inputs"`
	}{Inputs: make([]callCreate, len(idx))}
	for j, i := range idx {
		in.Inputs[j] = callCreate{
			Properties:         callProperties(calls[i], now),
			Associations:       associations(calls[i].Entity),
			ObjectWriteTraceID: strconv.Itoa(i),
		}
	}
	var resp batchResponse
	if err := c.do(ctx, "POST", callsPath+"/batch/create", in, &resp); err != nil {
		return fmt.Errorf("hubspot: batch create %d calls: %w", len(idx), err)
	}
	for _, o := range resp.Results {
		i, err := strconv.Atoi(o.ObjectWriteTraceID)
		if err != nil || !slices.Contains(idx, i) || o.ID == "" {
			continue
		}
		out[i] = connectors.CallResult{Ref: connectors.CallRef{ID: o.ID}}
	}
	missing(out, idx, resp, "batch create call")
	return nil
}

func (c *Client) batchUpdate(ctx context.Context, calls []connectors.CallActivity, idx []int, out []connectors.CallResult) error {
	now := c.now()
	in := struct {
		Inputs []callUpdate `json:"inputs"`
	}{Inputs: make([]callUpdate, len(idx))}
	byID := map[string][]int{}
	for j, i := range idx {
		id := calls[i].Ref.ID
		in.Inputs[j] = callUpdate{ID: id, Properties: callProperties(calls[i], now)}
		byID[id] = append(byID[id], i)
	}
	var resp batchResponse
	if err := c.do(ctx, "POST", callsPath+"/batch/update", in, &resp); err != nil {
		return fmt.Errorf("hubspot: batch update %d calls: %w", len(idx), err)
	}
	for _, o := range resp.Results {
		for _, i := range byID[o.ID] {
			out[i] = connectors.CallResult{Ref: calls[i].Ref}
		}
	}
	for _, e := range resp.Errors {
		kind := connectors.ErrInvalid
		if e.Category == "OBJECT_NOT_FOUND" {
			kind = errors.Join(connectors.ErrNotFound, connectors.ErrInvalid)
		}
		for _, id := range e.Context["ids"] {
			for _, i := range byID[id] {
				out[i] = connectors.CallResult{Err: fmt.Errorf("hubspot: batch update call %s: %s: %w", id, e.Message, kind)}
			}
		}
	}
	missing(out, idx, resp, "batch update call")
	return nil
}

// missing gives every entry of idx that the answer left without a result
// an error, quoting the batch's first error when it has one.
func missing(out []connectors.CallResult, idx []int, resp batchResponse, op string) {
	msg := "not in the batch answer"
	if len(resp.Errors) > 0 {
		msg = resp.Errors[0].Category + ": " + resp.Errors[0].Message
	}
	for _, i := range idx {
		if out[i].Ref.ID == "" && out[i].Err == nil {
			out[i] = connectors.CallResult{Err: fmt.Errorf("hubspot: %s %d: %s: %w", op, i, msg, connectors.ErrInvalid)}
		}
	}
}
