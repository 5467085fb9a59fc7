package pipedrivetest

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// epoch stands in for the creation time of seeded records.
var epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// num is a Backend id as Pipedrive's integer id (0 when not numeric).
func num(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

func stamp(t time.Time) string {
	if t.IsZero() {
		t = epoch
	}
	return t.UTC().Format(time.RFC3339)
}

// handleUsers is GET /v1/users: every user, no pagination.
func (h *Handler) handleUsers(w http.ResponseWriter, r *http.Request) {
	users := h.Backend.Users()
	data := make([]map[string]any, len(users))
	for i, u := range users {
		var phone any
		if len(u.Phones) > 0 {
			phone = u.Phones[0]
		}
		data[i] = map[string]any{
			"id": num(u.ID), "name": u.Name, "email": u.Email, "phone": phone,
			"active_flag": u.Active, "is_deleted": false, "activated": true,
			"default_currency": "EUR", "locale": "en_US", "lang": 1,
			"created": "2026-01-05 09:00:00", "modified": "2026-01-05 09:00:00",
			"last_login": "2026-03-01 08:00:00", "has_created_company": i == 0,
			"access":        []map[string]any{{"app": "sales", "admin": i == 0}},
			"timezone_name": "UTC", "timezone_offset": "+00:00", "role_id": 1,
			"icon_url": nil, "is_you": i == 0,
		}
	}
	writeData(w, data, nil)
}

// persons returns the Backend's contacts that are persons.
func (h *Handler) persons() []connectortest.Record {
	var out []connectortest.Record
	for _, r := range h.Backend.Records(connectors.KindContact) {
		if !r.Company {
			out = append(out, r)
		}
	}
	return out
}

// personOf is the person a deal or lead belongs to: its first linked
// person, or 0.
func (h *Handler) personOf(id string) int64 {
	for _, p := range h.Backend.Linked(id, connectors.KindContact) {
		if !p.Company {
			return num(p.ID)
		}
	}
	return 0
}

// page cuts items at the cursor (a base64 offset) and returns the next
// cursor, "" on the last page. It answers 400 itself for a bad cursor.
func page[T any](w http.ResponseWriter, q url.Values, items []T) ([]T, string, bool) {
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			writeError(w, http.StatusBadRequest, "limit must be between 1 and 500")
			return nil, "", false
		}
		limit = n
	}
	start := 0
	if c := q.Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || err2 != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "Invalid cursor")
			return nil, "", false
		}
		start = min(n, len(items))
	}
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	return items[start:end], next, true
}

// cursorData is v2's additional_data: next_cursor only when there is a
// next page (the documents type it as a non-nullable string).
func cursorData(next string) map[string]any {
	if next == "" {
		return map[string]any{}
	}
	return map[string]any{"next_cursor": next}
}

// handleSearchPersons is GET /api/v2/persons/search; see the package
// comment for how it matches.
func (h *Handler) handleSearchPersons(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	term := strings.TrimSpace(q.Get("term"))
	exact := q.Get("exact_match") == "true"
	if len(term) < 2 && !(exact && len(term) == 1) {
		writeError(w, http.StatusBadRequest, "The search term must be at least 2 characters long")
		return
	}
	fields := q.Get("fields")
	byPhone := fields == "" || strings.Contains(fields, "phone")
	byName := fields == "" || strings.Contains(fields, "name")
	digits := connectors.PhoneDigits(term)
	var hits []map[string]any
	for _, p := range h.persons() {
		match := byName && (exact && strings.EqualFold(p.Title, term) ||
			!exact && strings.Contains(strings.ToLower(p.Title), strings.ToLower(term)))
		for _, ph := range p.Phones {
			switch {
			case !byPhone:
			case exact && strings.EqualFold(strings.TrimSpace(ph), term):
				match = true
			case !exact && len(digits) >= 2 && strings.Contains(connectors.PhoneDigits(ph), digits):
				match = true
			}
		}
		if !match {
			continue
		}
		item := map[string]any{
			"id": num(p.ID), "type": "person", "name": p.Title, "phones": nonNil(p.Phones),
			"emails": []string{}, "visible_to": 3, "custom_fields": []string{}, "notes": []string{},
		}
		if p.ResponsibleUserID != "" {
			item["owner"] = map[string]any{"id": num(p.ResponsibleUserID)}
		}
		hits = append(hits, map[string]any{"result_score": 0.5, "item": item})
	}
	items, next, ok := page(w, q, hits)
	if !ok {
		return
	}
	writeData(w, map[string]any{"items": nonNil(items)}, cursorData(next))
}

// handlePersons is GET /api/v2/persons (owner_id filter).
func (h *Handler) handlePersons(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var out []map[string]any
	for _, p := range h.persons() {
		if o := q.Get("owner_id"); o != "" && p.ResponsibleUserID != o {
			continue
		}
		out = append(out, personJSON(p))
	}
	items, next, ok := page(w, q, out)
	if ok {
		writeData(w, nonNil(items), cursorData(next))
	}
}

func personJSON(p connectortest.Record) map[string]any {
	phones := make([]map[string]any, len(p.Phones))
	for i, ph := range p.Phones {
		phones[i] = map[string]any{"value": ph, "primary": i == 0, "label": "work"}
	}
	out := map[string]any{
		"id": num(p.ID), "name": p.Title, "phones": phones, "emails": []any{},
		"add_time": stamp(epoch), "update_time": stamp(p.UpdatedAt), "is_deleted": false,
		"visible_to": 3, "label_ids": []int{}, "custom_fields": map[string]any{},
	}
	if p.ResponsibleUserID != "" {
		out["owner_id"] = num(p.ResponsibleUserID)
	}
	return out
}

// handleDeals is GET /api/v2/deals: person_id, owner_id and status
// filters; without status every deal that is not deleted.
func (h *Handler) handleDeals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var out []map[string]any
	for _, d := range h.Backend.Records(connectors.KindDeal) {
		person := h.personOf(d.ID)
		status := "open"
		if d.Closed {
			status = "won"
		}
		switch {
		case q.Get("person_id") != "" && strconv.FormatInt(person, 10) != q.Get("person_id"),
			q.Get("owner_id") != "" && d.ResponsibleUserID != q.Get("owner_id"),
			q.Get("status") != "" && q.Get("status") != status:
			continue
		}
		out = append(out, dealJSON(d, person, status))
	}
	items, next, ok := page(w, q, out)
	if ok {
		writeData(w, nonNil(items), cursorData(next))
	}
}

func dealJSON(d connectortest.Record, person int64, status string) map[string]any {
	out := map[string]any{
		"id": num(d.ID), "title": d.Title, "pipeline_id": 1, "stage_id": 1, "value": 0, "currency": "EUR",
		"add_time": stamp(epoch), "update_time": stamp(d.UpdatedAt), "stage_change_time": stamp(epoch),
		"status": status, "is_deleted": false, "is_archived": false, "visible_to": 3,
		"label_ids": []int{}, "origin": "API", "custom_fields": map[string]any{},
	}
	if d.ResponsibleUserID != "" {
		out["owner_id"] = num(d.ResponsibleUserID)
	}
	if person != 0 {
		out["person_id"] = person
	}
	return out
}

// handleLeads is GET /v1/leads (not archived) and /v1/leads/archived:
// person_id and owner_id filters, start/limit pagination.
func (h *Handler) handleLeads(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	archived := strings.HasSuffix(r.URL.Path, "/archived")
	var out []map[string]any
	for _, l := range h.Backend.Records(connectors.KindLead) {
		person := h.personOf(l.ID)
		switch {
		case l.Closed != archived,
			q.Get("person_id") != "" && strconv.FormatInt(person, 10) != q.Get("person_id"),
			q.Get("owner_id") != "" && l.ResponsibleUserID != q.Get("owner_id"):
			continue
		}
		out = append(out, leadJSON(l, person))
	}
	start, _ := strconv.Atoi(q.Get("start"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 || limit > 500 {
		limit = 100
	}
	start = min(max(start, 0), len(out))
	end := min(start+limit, len(out))
	writeData(w, nonNil(out[start:end]), map[string]any{
		"start": start, "limit": limit, "more_items_in_collection": end < len(out),
	})
}

func leadJSON(l connectortest.Record, person int64) map[string]any {
	out := map[string]any{
		"id": l.ID, "title": l.Title, "creator_id": 1, "label_ids": []string{},
		"person_id": nil, "organization_id": nil, "source_name": "API", "origin": "API", "origin_id": nil,
		"channel": nil, "channel_id": nil, "is_archived": l.Closed, "was_seen": false, "value": nil,
		"expected_close_date": nil, "next_activity_id": nil, "add_time": stamp(epoch),
		"update_time": stamp(l.UpdatedAt), "visible_to": "3", "cc_email": "company+7777+lead@pipedrivemail.com",
	}
	if l.ResponsibleUserID != "" {
		out["owner_id"] = num(l.ResponsibleUserID)
	}
	if person != 0 {
		out["person_id"] = person
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
