package amocrmtest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

type taskIn struct {
	Text              string `json:"text"`
	CompleteTill      int64  `json:"complete_till"`
	EntityID          int64  `json:"entity_id"`
	EntityType        string `json:"entity_type"`
	ResponsibleUserID flexID `json:"responsible_user_id"`
	RequestID         string `json:"request_id"`
}

func (h *Handler) handleTasks(w http.ResponseWriter, r *http.Request) {
	tasks, ok := decodeArray[taskIn](w, r)
	if !ok {
		return
	}
	out := make([]map[string]any, 0, len(tasks))
	for i, in := range tasks {
		path := fmt.Sprintf("[%d]", i)
		if in.Text == "" || in.CompleteTill == 0 {
			writeValidation(w, in.RequestID, path, "text and complete_till are required")
			return
		}
		if !h.knownUser(w, in.RequestID, path+".responsible_user_id", in.ResponsibleUserID) {
			return
		}
		t := connectors.Task{ResponsibleUserID: string(in.ResponsibleUserID), Text: in.Text,
			Due: time.Unix(in.CompleteTill, 0).UTC()}
		if in.EntityType != "" {
			ref, ok := h.entityRef(in.EntityType, in.EntityID)
			if !ok {
				writeValidation(w, in.RequestID, path+".entity_id", "entity not found")
				return
			}
			t.Entity = &ref
		}
		id := h.Backend.CreateTask(t)
		out = append(out, map[string]any{"id": num(id), "request_id": in.RequestID})
	}
	writeJSON(w, map[string]any{"_embedded": map[string]any{"tasks": out}})
}

type holderIn struct {
	Name              string `json:"name"`
	ResponsibleUserID flexID `json:"responsible_user_id"`
	CustomFields      []struct {
		FieldCode string `json:"field_code"`
		Values    []struct {
			Value string `json:"value"`
		} `json:"values"`
	} `json:"custom_fields_values"`
	RequestID string `json:"request_id"`
}

func (in holderIn) phone() string {
	for _, f := range in.CustomFields {
		if f.FieldCode == "PHONE" && len(f.Values) > 0 {
			return f.Values[0].Value
		}
	}
	return ""
}

func (h *Handler) handleCreateContacts(w http.ResponseWriter, r *http.Request) {
	items, ok := decodeArray[holderIn](w, r)
	if !ok {
		return
	}
	out := make([]map[string]any, 0, len(items))
	for i, in := range items {
		if !h.knownUser(w, in.RequestID, fmt.Sprintf("[%d].responsible_user_id", i), in.ResponsibleUserID) {
			return
		}
		rec := h.Backend.CreateEntity(connectors.NewEntity{Kind: connectors.KindContact, Title: in.Name,
			Phone: in.phone(), ResponsibleUserID: string(in.ResponsibleUserID)})
		out = append(out, map[string]any{"id": num(rec.ID), "request_id": in.RequestID})
	}
	writeJSON(w, map[string]any{"_embedded": map[string]any{"contacts": out}})
}

type complexIn struct {
	Name              string `json:"name"`
	ResponsibleUserID flexID `json:"responsible_user_id"`
	Embedded          struct {
		Contacts []holderIn `json:"contacts"`
	} `json:"_embedded"`
}

// handleComplex serves POST /api/v4/leads/complex: deals created with
// their contacts, at most 50 a request.
func (h *Handler) handleComplex(w http.ResponseWriter, r *http.Request) {
	items, ok := decodeArray[complexIn](w, r)
	if !ok {
		return
	}
	if len(items) > 50 {
		writeValidation(w, "", "", "at most 50 leads per complex request")
		return
	}
	out := make([]map[string]any, 0, len(items))
	for i, in := range items {
		if !h.knownUser(w, strconv.Itoa(i), fmt.Sprintf("[%d].responsible_user_id", i), in.ResponsibleUserID) {
			return
		}
		var links []string
		var contactID any
		for _, c := range in.Embedded.Contacts {
			rec := h.Backend.CreateEntity(connectors.NewEntity{Kind: connectors.KindContact, Title: c.Name,
				Phone: c.phone(), ResponsibleUserID: string(c.ResponsibleUserID)})
			links = append(links, rec.ID)
			if contactID == nil {
				contactID = num(rec.ID)
			}
		}
		deal := h.Backend.CreateEntity(connectors.NewEntity{Kind: connectors.KindDeal, Title: in.Name,
			ResponsibleUserID: string(in.ResponsibleUserID)}, links...)
		out = append(out, map[string]any{"id": num(deal.ID), "contact_id": contactID, "company_id": nil,
			"request_id": []string{strconv.Itoa(i)}, "merged": false})
	}
	writeJSON(w, out)
}
