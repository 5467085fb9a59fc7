package pipedrivetest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// callLogInput is addCallLogRequest.
type callLogInput struct {
	UserID          int64   `json:"user_id"`
	ActivityID      int64   `json:"activity_id"`
	Subject         string  `json:"subject"`
	Duration        *string `json:"duration"`
	Outcome         string  `json:"outcome"`
	FromPhoneNumber string  `json:"from_phone_number"`
	ToPhoneNumber   string  `json:"to_phone_number"`
	StartTime       string  `json:"start_time"`
	EndTime         string  `json:"end_time"`
	PersonID        int64   `json:"person_id"`
	OrgID           int64   `json:"org_id"`
	DealID          int64   `json:"deal_id"`
	LeadID          string  `json:"lead_id"`
	Note            string  `json:"note"`
}

// targetInput is the record fields notes and activities hang on.
type targetInput struct {
	PersonID int64  `json:"person_id"`
	DealID   int64  `json:"deal_id"`
	LeadID   string `json:"lead_id"`
}

// entity resolves a write's record fields to the record, checking it
// exists with the right kind: deal or lead (not both), else person.
func (h *Handler) entity(t targetInput) (*connectors.EntityRef, int, error) {
	if t.DealID != 0 && t.LeadID != "" {
		return nil, http.StatusBadRequest, fmt.Errorf("a call log or activity can be linked to a deal or a lead, not both")
	}
	var kind connectors.EntityKind
	var id string
	switch {
	case t.DealID != 0:
		kind, id = connectors.KindDeal, strconv.FormatInt(t.DealID, 10)
	case t.LeadID != "":
		kind, id = connectors.KindLead, t.LeadID
	case t.PersonID != 0:
		kind, id = connectors.KindContact, strconv.FormatInt(t.PersonID, 10)
	default:
		return nil, 0, nil
	}
	if rec, ok := h.Backend.Record(id); !ok || rec.Kind != kind || rec.Company {
		return nil, http.StatusNotFound, fmt.Errorf("%s %s not found", kind, id)
	}
	if t.PersonID != 0 && kind != connectors.KindContact {
		if rec, ok := h.Backend.Record(strconv.FormatInt(t.PersonID, 10)); !ok || rec.Kind != connectors.KindContact {
			return nil, http.StatusNotFound, fmt.Errorf("person %d not found", t.PersonID)
		}
	}
	return &connectors.EntityRef{Kind: kind, ID: id}, 0, nil
}

func (h *Handler) userExists(id int64) bool {
	_, ok := h.Backend.User(strconv.FormatInt(id, 10))
	return ok
}

// parseCallTime reads a call log time: UTC "YYYY-MM-DD HH:MM:SS".
func parseCallTime(s string) (time.Time, error) {
	return time.Parse(time.DateTime, s)
}

// handleCreateCallLog is POST /v1/callLogs: a Backend call record.
func (h *Handler) handleCreateCallLog(w http.ResponseWriter, r *http.Request) {
	var in callLogInput
	if !decode(w, r, &in) {
		return
	}
	start, err1 := parseCallTime(in.StartTime)
	end, err2 := parseCallTime(in.EndTime)
	var secs int64
	var err3 error
	if in.Duration != nil {
		secs, err3 = strconv.ParseInt(*in.Duration, 10, 64)
	}
	switch {
	case err1 != nil || err2 != nil:
		writeError(w, http.StatusBadRequest, `"start_time" and "end_time" must be in the format YYYY-MM-DD HH:MM:SS`)
		return
	case end.Before(start):
		writeError(w, http.StatusBadRequest, `"end_time" must be after "start_time"`)
		return
	case err3 != nil || secs < 0:
		writeError(w, http.StatusBadRequest, `"duration" must be a number of seconds`)
		return
	case in.UserID != 0 && !h.userExists(in.UserID):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("user %d not found", in.UserID))
		return
	case in.ActivityID != 0:
		writeError(w, http.StatusBadRequest, "the fake does not convert activities into call logs")
		return
	}
	ref, status, err := h.entity(targetInput{PersonID: in.PersonID, DealID: in.DealID, LeadID: in.LeadID})
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	call := connectors.CallActivity{
		Direction: connectors.Inbound,
		From:      in.FromPhoneNumber, To: in.ToPhoneNumber,
		StartedAt: start, Duration: time.Duration(secs) * time.Second,
		Answered: in.Outcome == "connected",
		Entity:   ref,
	}
	if strings.HasPrefix(in.Subject, "Outbound") {
		call.Direction = connectors.Outbound
	}
	if in.UserID != 0 {
		call.Responsible = strconv.FormatInt(in.UserID, 10)
		if call.Answered {
			call.AnsweredBy = call.Responsible
		}
	}
	applyNote(&call, in.Note)
	id := h.Backend.CreateCall(call)
	out := map[string]any{
		"id": id, "activity_id": num(id), "subject": in.Subject, "outcome": in.Outcome,
		"duration": strconv.FormatInt(secs, 10), "from_phone_number": in.FromPhoneNumber,
		"to_phone_number": in.ToPhoneNumber, "start_time": start.Format(time.RFC3339),
		"end_time": end.Format(time.RFC3339), "has_recording": false, "company_id": CompanyID,
		"note": in.Note,
	}
	for k, v := range map[string]int64{"user_id": in.UserID, "person_id": in.PersonID, "deal_id": in.DealID} {
		if v != 0 {
			out[k] = v
		}
	}
	if in.LeadID != "" {
		out["lead_id"] = in.LeadID
	}
	writeData(w, out, nil)
}

// note is a note the fake holds.
type note struct {
	id      int64
	content string
	target  targetInput
	callID  string // the call log the note adds to, if any
	added   time.Time
	updated time.Time
}

func (n *note) json() map[string]any {
	out := map[string]any{
		"id": n.id, "active_flag": true, "content": n.content, "user_id": 1, "last_update_user_id": 1,
		"add_time": n.added.UTC().Format(time.DateTime), "update_time": n.updated.UTC().Format(time.DateTime),
		"pinned_to_deal_flag": false, "pinned_to_organization_flag": false,
		"pinned_to_person_flag": false, "pinned_to_project_flag": false,
	}
	if n.target.DealID != 0 {
		out["deal_id"] = n.target.DealID
	}
	if n.target.PersonID != 0 {
		out["person_id"] = n.target.PersonID
	}
	if n.target.LeadID != "" {
		out["lead_id"] = n.target.LeadID
	}
	return out
}

// Notes returns the contents of the notes written so far, in order.
func (h *Handler) Notes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]int64, 0, len(h.notes))
	for id := range h.notes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = h.notes[id].content
	}
	return out
}

// handleCreateNote is POST /v1/notes. A note that names a call log it
// hangs with is an update of that call.
func (h *Handler) handleCreateNote(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Content string `json:"content"`
		targetInput
	}
	if !decode(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Content) == "" {
		writeError(w, http.StatusBadRequest, "Note content is required")
		return
	}
	ref, status, err := h.entity(in.targetInput)
	if err == nil && ref == nil {
		status, err = http.StatusBadRequest, fmt.Errorf("a note must be linked to a deal, lead, person or organization")
	}
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	n := &note{content: in.Content, target: in.targetInput, added: h.now(), updated: h.now()}
	if id := callLogOf(in.Content); id != "" {
		if rec, ok := h.Backend.Call(id); ok && rec.Call.Entity != nil && *rec.Call.Entity == *ref {
			n.callID = id
			if err := h.Backend.UpdateCall(id, func(c *connectors.CallActivity) { applyNote(c, in.Content) }); err != nil {
				writeError(w, http.StatusNotFound, err.Error())
				return
			}
		}
	}
	h.mu.Lock()
	h.lastNote++
	n.id = h.lastNote
	h.notes[n.id] = n
	out := n.json()
	h.mu.Unlock()
	writeData(w, out, nil)
}

// handleUpdateNote is PUT /v1/notes/{id}: new content (and record).
func (h *Handler) handleUpdateNote(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var in struct {
		Content *string `json:"content"`
	}
	if !decode(w, r, &in) {
		return
	}
	h.mu.Lock()
	n, ok := h.notes[id]
	if ok && in.Content != nil {
		n.content, n.updated = *in.Content, h.now()
	}
	var out map[string]any
	var callID, content string
	if ok {
		out, callID, content = n.json(), n.callID, n.content
	}
	h.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Note not found")
		return
	}
	if callID != "" && in.Content != nil {
		if err := h.Backend.UpdateCall(callID, func(c *connectors.CallActivity) { applyNote(c, content) }); err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
	}
	writeData(w, out, nil)
}

// DeleteNote removes a note, as a Pipedrive user deleting it would.
func (h *Handler) DeleteNote(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.notes, id)
}
