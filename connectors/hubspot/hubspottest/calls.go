package hubspottest

import (
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// callProps are the call properties the fake knows; any other is a 400,
// as HubSpot answers for a property that does not exist.
var callProps = []string{
	"hs_timestamp", "hs_call_title", "hs_call_body", "hs_call_direction", "hs_call_duration",
	"hs_call_from_number", "hs_call_to_number", "hs_call_status", "hs_call_disposition",
	"hs_call_recording_url", "hs_call_external_id", "hs_call_callee_object_id",
	"hs_call_callee_object_type", "hubspot_owner_id",
}

// callStatuses are hs_call_status's options.
var callStatuses = []string{"BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING",
	"FAILED", "IN_PROGRESS", "MISSED", "NO_ANSWER", "QUEUED", "RINGING"}

// dispositions are the default call outcomes (hs_call_disposition GUIDs).
var dispositions = []string{
	"9d9162e7-6cf3-4944-bf63-4dff82258764", // Busy
	"f240bbac-87c9-4f6e-bf70-924b57d47db7", // Connected
	"a4c4c377-d246-4b32-a13b-75a56a4cd0ff", // Left live message
	"b2cf5968-551e-4856-9783-52b3da59a7d0", // Left voicemail
	"73a0d17f-1163-4015-bdd5-ec830791da20", // No answer
	"17b47fee-58de-441e-a44c-c6300d46f273", // Wrong number
}

// callAssociationTypes maps a call's association type id onto the kind of
// record it may point at (HUBSPOT_DEFINED; see hubspot.callAssociationType).
var callAssociationTypes = map[int]connectors.EntityKind{
	194: connectors.KindContact,
	206: connectors.KindDeal,
	597: connectors.KindLead,
}

type callInput struct {
	ID           string            `json:"id"`
	Properties   map[string]string `json:"properties"`
	Associations []struct {
		To struct {
			ID string `json:"id"`
		} `json:"to"`
		Types []struct {
			Category string `json:"associationCategory"`
			TypeID   int    `json:"associationTypeId"`
		} `json:"types"`
	} `json:"associations"`
	ObjectWriteTraceID string `json:"objectWriteTraceId"`
}

// apply writes props onto call as HubSpot would store them. create requires
// hs_timestamp.
func (h *Handler) apply(call *connectors.CallActivity, props map[string]string, create bool) error {
	if _, ok := props["hs_timestamp"]; create && !ok {
		return errors.New("property values were not valid: hs_timestamp is required")
	}
	for k, v := range props {
		if !slices.Contains(callProps, k) {
			return fmt.Errorf("property %q does not exist", k)
		}
		invalid := func() error { return fmt.Errorf("property values were not valid: %s=%q", k, v) }
		switch k {
		case "hs_timestamp":
			t, err := parseTimestamp(v)
			if err != nil {
				return invalid()
			}
			call.StartedAt = t
		case "hs_call_direction":
			switch v {
			case "INBOUND":
				call.Direction = connectors.Inbound
			case "OUTBOUND":
				call.Direction = connectors.Outbound
			default:
				return invalid()
			}
		case "hs_call_duration":
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms < 0 {
				return invalid()
			}
			call.Duration = time.Duration(ms) * time.Millisecond
		case "hs_call_status":
			if !slices.Contains(callStatuses, v) {
				return invalid()
			}
			call.Answered = v == "COMPLETED"
		case "hs_call_disposition":
			if v != "" && !slices.Contains(dispositions, v) {
				return invalid()
			}
		case "hs_call_recording_url":
			if v != "" && !strings.HasPrefix(v, "https://") {
				return invalid()
			}
			call.RecordingURL = v
		case "hs_call_from_number":
			call.From = v
		case "hs_call_to_number":
			call.To = v
		case "hs_call_external_id":
			call.ExternalCallID = v
		case "hs_call_body":
			call.Comment = bodyText(v)
		case "hubspot_owner_id":
			if v != "" && !h.ownerExists(v) {
				return invalid()
			}
			call.Responsible = v
		}
	}
	// One owner field: it is who answered when the call was answered.
	call.AnsweredBy = ""
	if call.Answered {
		call.AnsweredBy = call.Responsible
	}
	return nil
}

func parseTimestamp(v string) (time.Time, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Parse(time.RFC3339, v)
}

func (h *Handler) ownerExists(id string) bool {
	return slices.ContainsFunc(h.Backend.Users(), func(u connectors.User) bool { return u.ID == id })
}

var tags = regexp.MustCompile(`<[^>]*>`)

// bodyText turns hs_call_body's HTML into text, a line per paragraph.
func bodyText(s string) string {
	s = strings.NewReplacer("</p>", "\n", "<br>", "\n", "<br/>", "\n").Replace(s)
	return strings.TrimSpace(html.UnescapeString(tags.ReplaceAllString(s, "")))
}

// entity resolves a create's associations to the call's entity: the first
// association, whose target must exist and fit the association type.
func (h *Handler) entity(in callInput) (*connectors.EntityRef, error) {
	var ref *connectors.EntityRef
	for _, a := range in.Associations {
		rec, ok := h.Backend.Record(a.To.ID)
		if !ok {
			return nil, fmt.Errorf("association target %s does not exist", a.To.ID)
		}
		for _, t := range a.Types {
			if t.Category != "HUBSPOT_DEFINED" || callAssociationTypes[t.TypeID] != rec.Kind || rec.Company {
				return nil, fmt.Errorf("association type %s/%d does not fit %s %s", t.Category, t.TypeID, rec.Kind, rec.ID)
			}
		}
		if ref == nil {
			ref = &connectors.EntityRef{Kind: rec.Kind, ID: rec.ID}
		}
	}
	return ref, nil
}

// callObject renders a stored call as HubSpot returns it.
func callObject(id string, c connectors.CallActivity, traceID string) simpleObject {
	p := map[string]string{
		"hs_object_id":     id,
		"hs_timestamp":     c.StartedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
		"hs_call_duration": strconv.FormatInt(c.Duration.Milliseconds(), 10),
		"hs_call_status":   "NO_ANSWER",
	}
	if c.Answered {
		p["hs_call_status"] = "COMPLETED"
	}
	if c.Direction != "" {
		p["hs_call_direction"] = strings.ToUpper(string(c.Direction))
	}
	for k, v := range map[string]string{
		"hs_call_from_number": c.From, "hs_call_to_number": c.To, "hs_call_recording_url": c.RecordingURL,
		"hs_call_external_id": c.ExternalCallID, "hs_call_body": html.EscapeString(c.Comment),
		"hubspot_owner_id": c.Responsible,
	} {
		if v != "" {
			p[k] = v
		}
	}
	return simpleObject{ID: id, Properties: p, CreatedAt: stamp(epoch), UpdatedAt: stamp(epoch), ObjectWriteTraceID: traceID}
}

// handleCreateCall is POST /crm/v3/objects/calls.
func (h *Handler) handleCreateCall(w http.ResponseWriter, r *http.Request) {
	if h.intercept(w, r) || !h.authorized(w, r) {
		return
	}
	var in callInput
	if !decode(w, r, &in) {
		return
	}
	call, err := h.newCall(in)
	if err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", err.Error())
		return
	}
	id := h.Backend.CreateCall(call)
	writeJSON(w, http.StatusCreated, callObject(id, call, ""))
}

func (h *Handler) newCall(in callInput) (connectors.CallActivity, error) {
	var call connectors.CallActivity
	if err := h.apply(&call, in.Properties, true); err != nil {
		return call, err
	}
	ref, err := h.entity(in)
	call.Entity = ref
	return call, err
}

// handleGetCall is GET /crm/v3/objects/calls/{id}.
func (h *Handler) handleGetCall(w http.ResponseWriter, r *http.Request) {
	if h.intercept(w, r) || !h.authorized(w, r) {
		return
	}
	rec, ok := h.Backend.Call(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "Object not found. objectId are usually numeric.")
		return
	}
	writeJSON(w, http.StatusOK, callObject(rec.ID, rec.Call, ""))
}

// handleUpdateCall is PATCH /crm/v3/objects/calls/{id}: properties only.
func (h *Handler) handleUpdateCall(w http.ResponseWriter, r *http.Request) {
	if h.intercept(w, r) || !h.authorized(w, r) {
		return
	}
	var in callInput
	if !decode(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	obj, status, err := h.updateCall(id, in.Properties)
	if err != nil {
		category := "VALIDATION_ERROR"
		if status == http.StatusNotFound {
			category = "OBJECT_NOT_FOUND"
		}
		writeError(w, status, category, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

// updateCall validates props against the stored call and applies them.
func (h *Handler) updateCall(id string, props map[string]string) (simpleObject, int, error) {
	rec, ok := h.Backend.Call(id)
	if !ok {
		return simpleObject{}, http.StatusNotFound, fmt.Errorf("object not found: call %s", id)
	}
	next := rec.Call
	if err := h.apply(&next, props, false); err != nil {
		return simpleObject{}, http.StatusBadRequest, err
	}
	if err := h.Backend.UpdateCall(id, func(c *connectors.CallActivity) { *c = next }); err != nil {
		return simpleObject{}, http.StatusNotFound, err
	}
	return callObject(id, next, ""), http.StatusOK, nil
}

// batchResponse is BatchResponseSimplePublicObject(WithErrors).
type batchResponse struct {
	Status      string          `json:"status"`
	Results     []simpleObject  `json:"results"`
	Errors      []standardError `json:"errors,omitempty"`
	NumErrors   int             `json:"numErrors,omitempty"`
	RequestedAt string          `json:"requestedAt"`
	StartedAt   string          `json:"startedAt"`
	CompletedAt string          `json:"completedAt"`
}

// standardError is StandardError, whose fields are all required.
type standardError struct {
	Status   string              `json:"status"`
	Category string              `json:"category"`
	Message  string              `json:"message"`
	Context  map[string][]string `json:"context"`
	Errors   []any               `json:"errors"`
	Links    map[string]string   `json:"links"`
}

func (h *Handler) batch(results []simpleObject, errs []standardError) batchResponse {
	now := stamp(h.now())
	slices.Reverse(results) // HubSpot promises no order; neither do we
	return batchResponse{Status: "COMPLETE", Results: results, Errors: errs, NumErrors: len(errs),
		RequestedAt: now, StartedAt: now, CompletedAt: now}
}

// handleBatchCreateCalls is POST /crm/v3/objects/calls/batch/create: all
// inputs are checked before any is written, as HubSpot fails the batch.
func (h *Handler) handleBatchCreateCalls(w http.ResponseWriter, r *http.Request) {
	if h.intercept(w, r) || !h.authorized(w, r) {
		return
	}
	var in struct {
		Inputs []callInput `json:"inputs"`
	}
	if !decode(w, r, &in) {
		return
	}
	if len(in.Inputs) > 100 {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Batch size exceeds the limit of 100")
		return
	}
	calls := make([]connectors.CallActivity, len(in.Inputs))
	for i, input := range in.Inputs {
		var err error
		if calls[i], err = h.newCall(input); err != nil {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("inputs[%d]: %v", i, err))
			return
		}
	}
	results := make([]simpleObject, len(calls))
	for i, call := range calls {
		results[i] = callObject(h.Backend.CreateCall(call), call, in.Inputs[i].ObjectWriteTraceID)
	}
	writeJSON(w, http.StatusCreated, h.batch(results, nil))
}

// handleBatchUpdateCalls is POST /crm/v3/objects/calls/batch/update.
// Unknown ids are reported per input (207), invalid properties fail the
// batch (400).
func (h *Handler) handleBatchUpdateCalls(w http.ResponseWriter, r *http.Request) {
	if h.intercept(w, r) || !h.authorized(w, r) {
		return
	}
	var in struct {
		Inputs []callInput `json:"inputs"`
	}
	if !decode(w, r, &in) {
		return
	}
	if len(in.Inputs) > 100 {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Batch size exceeds the limit of 100")
		return
	}
	var missing []string
	for i, input := range in.Inputs {
		rec, ok := h.Backend.Call(input.ID)
		if !ok {
			missing = append(missing, input.ID)
			continue
		}
		if err := h.apply(&rec.Call, input.Properties, false); err != nil {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("inputs[%d]: %v", i, err))
			return
		}
	}
	results := []simpleObject{}
	for _, input := range in.Inputs {
		if slices.Contains(missing, input.ID) {
			continue
		}
		obj, _, err := h.updateCall(input.ID, input.Properties)
		if err != nil {
			missing = append(missing, input.ID)
			continue
		}
		results = append(results, obj)
	}
	if len(missing) == 0 {
		writeJSON(w, http.StatusOK, h.batch(results, nil))
		return
	}
	writeJSON(w, http.StatusMultiStatus, h.batch(results, []standardError{{
		Status:   "error",
		Category: "OBJECT_NOT_FOUND",
		Message:  "Could not get some CALL objects, they may be deleted or not exist. Check that ids are valid.",
		Context:  map[string][]string{"ids": missing},
		Errors:   []any{},
		Links:    map[string]string{},
	}}))
}
