package pipedrivetest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// activityTypes are Pipedrive's default activity types (key_string).
var activityTypes = []string{"call", "meeting", "task", "deadline", "email", "lunch"}

// handleCreateActivity is POST /api/v2/activities: a Backend task. Its
// text is the note when there is one, else the subject.
func (h *Handler) handleCreateActivity(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Subject string `json:"subject"`
		Type    string `json:"type"`
		OwnerID int64  `json:"owner_id"`
		DueDate string `json:"due_date"`
		DueTime string `json:"due_time"`
		Note    string `json:"note"`
		Done    bool   `json:"done"`
		targetInput
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Type == "" {
		in.Type = "task"
	}
	var due time.Time
	var err error
	if in.DueDate != "" {
		layout, v := time.DateOnly, in.DueDate
		if in.DueTime != "" {
			layout, v = time.DateOnly+" 15:04", in.DueDate+" "+in.DueTime
		}
		due, err = time.Parse(layout, v)
	}
	switch {
	case !slices.Contains(activityTypes, in.Type):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("activity type %q does not exist", in.Type))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "due_date must be YYYY-MM-DD and due_time HH:MM")
		return
	case in.OwnerID != 0 && !h.userExists(in.OwnerID):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("user %d not found", in.OwnerID))
		return
	}
	ref, status, err := h.entity(in.targetInput)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	text := in.Note
	if text == "" {
		text = in.Subject
	}
	task := connectors.Task{ResponsibleUserID: idOf(in.OwnerID), Entity: ref, Text: text, Due: due}
	id := h.Backend.CreateTask(task)
	out := map[string]any{
		"id": num(id), "subject": in.Subject, "type": in.Type, "creator_user_id": 1, "is_deleted": false,
		"add_time": stamp(h.now()), "update_time": stamp(h.now()), "done": in.Done, "busy": false,
	}
	if in.OwnerID != 0 {
		out["owner_id"] = in.OwnerID
	}
	for k, v := range map[string]string{"due_date": in.DueDate, "due_time": in.DueTime, "note": in.Note, "lead_id": in.LeadID} {
		if v != "" {
			out[k] = v
		}
	}
	for k, v := range map[string]int64{"deal_id": in.DealID, "person_id": in.PersonID} {
		if v != 0 {
			out[k] = v
		}
	}
	writeData(w, out, nil)
}

func idOf(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// handleCreatePerson is POST /api/v2/persons: a Backend contact created
// for an unknown caller (its first phone).
func (h *Handler) handleCreatePerson(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name    string `json:"name"`
		OwnerID int64  `json:"owner_id"`
		Phones  []struct {
			Value string `json:"value"`
		} `json:"phones"`
	}
	if !decode(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Name) == "" {
		writeError(w, http.StatusBadRequest, "name is required")
		return
	}
	if in.OwnerID != 0 && !h.userExists(in.OwnerID) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("user %d not found", in.OwnerID))
		return
	}
	e := connectors.NewEntity{Kind: connectors.KindContact, Title: in.Name, ResponsibleUserID: idOf(in.OwnerID)}
	if len(in.Phones) > 0 {
		e.Phone = in.Phones[0].Value
	}
	rec := h.Backend.CreateEntity(e)
	writeData(w, personJSON(rec), nil)
}

// linkedInput is the body of a new lead or deal.
type linkedInput struct {
	Title    string `json:"title"`
	OwnerID  int64  `json:"owner_id"`
	PersonID int64  `json:"person_id"`
}

// createLinked creates a lead or deal for a person, answering 400 or 404
// itself on failure.
func (h *Handler) createLinked(w http.ResponseWriter, r *http.Request, kind connectors.EntityKind) (connectortest.Record, bool) {
	var in linkedInput
	if !decode(w, r, &in) {
		return connectortest.Record{}, false
	}
	switch {
	case strings.TrimSpace(in.Title) == "":
		writeError(w, http.StatusBadRequest, "title is required")
		return connectortest.Record{}, false
	case in.PersonID == 0:
		writeError(w, http.StatusBadRequest, "person_id or organization_id is required")
		return connectortest.Record{}, false
	case in.OwnerID != 0 && !h.userExists(in.OwnerID):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("user %d not found", in.OwnerID))
		return connectortest.Record{}, false
	}
	person := strconv.FormatInt(in.PersonID, 10)
	if rec, ok := h.Backend.Record(person); !ok || rec.Kind != connectors.KindContact || rec.Company {
		writeError(w, http.StatusNotFound, fmt.Sprintf("person %d not found", in.PersonID))
		return connectortest.Record{}, false
	}
	rec := h.Backend.CreateEntity(connectors.NewEntity{Kind: kind, Title: in.Title, ResponsibleUserID: idOf(in.OwnerID)}, person)
	return rec, true
}

// handleCreateLead is POST /v1/leads.
func (h *Handler) handleCreateLead(w http.ResponseWriter, r *http.Request) {
	if rec, ok := h.createLinked(w, r, connectors.KindLead); ok {
		writeData(w, leadJSON(rec, h.personOf(rec.ID)), nil)
	}
}

// handleCreateDeal is POST /api/v2/deals.
func (h *Handler) handleCreateDeal(w http.ResponseWriter, r *http.Request) {
	if rec, ok := h.createLinked(w, r, connectors.KindDeal); ok {
		writeData(w, dealJSON(rec, h.personOf(rec.ID), "open"), nil)
	}
}
