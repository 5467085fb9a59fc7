package amocrmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// flexID is an amo id sent as a number or a string.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	if n == "0" {
		n = ""
	}
	*f = flexID(n)
	return nil
}

type callParams struct {
	Uniq            string `json:"uniq"`
	Duration        *int64 `json:"duration"`
	Source          string `json:"source"`
	Link            string `json:"link"`
	Phone           string `json:"phone"`
	CallResult      string `json:"call_result"`
	CallStatus      int    `json:"call_status"`
	CallResponsible flexID `json:"call_responsible"`
}

type noteIn struct {
	ID                int64      `json:"id"`
	EntityID          int64      `json:"entity_id"`
	NoteType          string     `json:"note_type"`
	Params            callParams `json:"params"`
	ResponsibleUserID flexID     `json:"responsible_user_id"`
	CreatedAt         int64      `json:"created_at"`
	RequestID         string     `json:"request_id"`
}

type callIn struct {
	callParams
	Direction         string `json:"direction"`
	ResponsibleUserID flexID `json:"responsible_user_id"`
	CreatedAt         int64  `json:"created_at"`
	RequestID         string `json:"request_id"`
}

// apply writes what amo keeps of a call onto c.
func (p callParams) apply(c *connectors.CallActivity, direction connectors.Direction, responsible flexID, created int64) {
	c.Direction = direction
	c.ExternalCallID = p.Uniq
	if p.Duration != nil {
		c.Duration = time.Duration(*p.Duration) * time.Second
	}
	c.RecordingURL = p.Link
	c.From = p.Phone
	c.Comment = p.CallResult
	c.Answered = p.CallStatus == 4
	c.AnsweredBy = string(p.CallResponsible)
	if responsible != "" {
		c.Responsible = string(responsible)
	}
	if created != 0 {
		c.StartedAt = time.Unix(created, 0).UTC()
	}
}

// decodeArray decodes an amo write body, always a JSON array.
func decodeArray[T any](w http.ResponseWriter, r *http.Request) ([]T, bool) {
	var items []T
	if err := json.NewDecoder(r.Body).Decode(&items); err != nil || len(items) == 0 {
		writeValidation(w, "", "", "body must be a non-empty JSON array")
		return nil, false
	}
	if len(items) > 250 {
		writeValidation(w, "", "", "too many entities in one request")
		return nil, false
	}
	return items, true
}

// knownUser checks a user id the way amo does: unknown users are a 400.
func (h *Handler) knownUser(w http.ResponseWriter, requestID, path string, id flexID) bool {
	if id == "" {
		return true
	}
	if _, ok := h.Backend.User(string(id)); ok {
		return true
	}
	writeValidation(w, requestID, path, fmt.Sprintf("user %s not found", id))
	return false
}

// entityRef maps a notes path type and id onto a Backend record.
func (h *Handler) entityRef(typ string, id int64) (connectors.EntityRef, bool) {
	ref := connectors.EntityRef{Kind: connectors.KindContact, ID: strconv.FormatInt(id, 10)}
	switch typ {
	case "leads":
		ref.Kind = connectors.KindDeal
	case "contacts", "companies":
	default:
		return ref, false
	}
	rec, ok := h.Backend.Record(ref.ID)
	if !ok || rec.Kind != ref.Kind || rec.Company != (typ == "companies") {
		return ref, false
	}
	if typ == "companies" {
		ref.ID = "company:" + ref.ID
	}
	return ref, true
}

// handleNotes serves POST (create) and PATCH (edit) of call notes.
func (h *Handler) handleNotes(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	notes, ok := decodeArray[noteIn](w, r)
	if !ok {
		return
	}
	out := make([]map[string]any, 0, len(notes))
	for i, n := range notes {
		path := fmt.Sprintf("[%d]", i)
		dir := connectors.Inbound
		switch n.NoteType {
		case "call_in":
		case "call_out":
			dir = connectors.Outbound
		default:
			writeValidation(w, n.RequestID, path+".note_type", "this fake stores call notes only")
			return
		}
		if !h.knownUser(w, n.RequestID, path+".responsible_user_id", n.ResponsibleUserID) ||
			!h.knownUser(w, n.RequestID, path+".params.call_responsible", n.Params.CallResponsible) {
			return
		}
		if r.Method == http.MethodPatch {
			id := strconv.FormatInt(n.ID, 10)
			err := h.Backend.UpdateCall(id, func(c *connectors.CallActivity) {
				n.Params.apply(c, dir, n.ResponsibleUserID, 0)
			})
			if err != nil {
				writeValidation(w, n.RequestID, path+".id", "note not found")
				return
			}
			out = append(out, map[string]any{"id": n.ID, "updated_at": time.Now().Unix(), "request_id": n.RequestID})
			continue
		}
		ref, ok := h.entityRef(typ, n.EntityID)
		if !ok {
			writeValidation(w, n.RequestID, path+".entity_id", "entity not found")
			return
		}
		if n.Params.Duration == nil || n.Params.Source == "" || n.Params.Phone == "" {
			writeValidation(w, n.RequestID, path+".params", "duration, source and phone are required")
			return
		}
		var c connectors.CallActivity
		n.Params.apply(&c, dir, n.ResponsibleUserID, n.CreatedAt)
		c.Entity = &ref
		id := h.Backend.CreateCall(c)
		out = append(out, map[string]any{"id": num(id), "entity_id": n.EntityID, "request_id": n.RequestID})
	}
	writeJSON(w, map[string]any{"_embedded": map[string]any{"notes": out}})
}

// handleCalls serves POST /api/v4/calls: amo files each call on the contact
// (or company) holding the phone; without one the call is not stored.
func (h *Handler) handleCalls(w http.ResponseWriter, r *http.Request) {
	calls, ok := decodeArray[callIn](w, r)
	if !ok {
		return
	}
	out, errs := []map[string]any{}, []map[string]any{}
	for i, in := range calls {
		path := fmt.Sprintf("[%d]", i)
		if (in.Direction != "inbound" && in.Direction != "outbound") || in.Duration == nil ||
			in.Source == "" || in.Phone == "" {
			writeValidation(w, in.RequestID, path, "direction, duration, source and phone are required")
			return
		}
		if !h.knownUser(w, in.RequestID, path+".responsible_user_id", in.ResponsibleUserID) {
			return
		}
		var holder *connectors.EntityRef
		for _, rec := range h.Backend.Records(connectors.KindContact) {
			if connectors.AnyPhone(rec.Phones, in.Phone) {
				ref := connectors.EntityRef{Kind: connectors.KindContact, ID: rec.ID}
				if rec.Company {
					ref.ID = "company:" + rec.ID
				}
				holder = &ref
				break
			}
		}
		if holder == nil {
			errs = append(errs, map[string]any{"request_id": in.RequestID, "status": 404,
				"title": "Not Found", "detail": "no contact or company with this phone"})
			continue
		}
		dir := connectors.Inbound
		if in.Direction == "outbound" {
			dir = connectors.Outbound
		}
		var c connectors.CallActivity
		in.apply(&c, dir, in.ResponsibleUserID, in.CreatedAt)
		c.Entity = holder
		id := h.Backend.CreateCall(c)
		typ := "contact"
		if strings.HasPrefix(holder.ID, "company:") {
			typ = "company"
		}
		out = append(out, map[string]any{"id": num(id), "entity_id": num(holder.ID), "entity_type": typ,
			"account_id": accountID, "request_id": in.RequestID})
	}
	writeJSON(w, map[string]any{"_total_items": len(out), "_embedded": map[string]any{"calls": out}, "errors": errs})
}
