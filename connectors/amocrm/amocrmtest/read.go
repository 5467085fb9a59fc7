package amocrmtest

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// Fake amo constants.
const (
	accountID    = 31337
	pipelineID   = 3300000
	statusOpen   = 33000001
	statusWon    = 142
	phoneFieldID = 264911
)

func num(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimPrefix(s, "company:"), 10, 64)
	return n
}

// paging reads page and limit (amo: default 50, at most 250).
func paging(q url.Values) (page, limit int, ok bool) {
	page, limit = 1, 50
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, false
		}
		page = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 250 {
			return 0, 0, false
		}
		limit = n
	}
	return page, limit, true
}

// writePage answers one HAL page of items under name, or 204 when empty.
func writePage[T any](w http.ResponseWriter, r *http.Request, name string, items []T) {
	page, limit, ok := paging(r.URL.Query())
	if !ok {
		writeValidation(w, "", "limit", "limit must be 1…250")
		return
	}
	start := (page - 1) * limit
	if start >= len(items) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	end := min(start+limit, len(items))
	self := *r.URL
	self.Scheme, self.Host = "https", r.Host
	links := map[string]any{"self": map[string]string{"href": self.String()}}
	if end < len(items) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page+1))
		next := self
		next.RawQuery = q.Encode()
		links["next"] = map[string]string{"href": next.String()}
	}
	writeJSON(w, map[string]any{
		"_page":     page,
		"_links":    links,
		"_embedded": map[string]any{name: items[start:end]},
	})
}

func (h *Handler) handleUsers(w http.ResponseWriter, r *http.Request) {
	users := h.Backend.Users()
	out := make([]map[string]any, len(users))
	for i, u := range users {
		out[i] = map[string]any{
			"id": num(u.ID), "name": u.Name, "email": u.Email, "lang": "ru",
			"rights": map[string]any{"is_admin": false, "is_free": false, "is_active": u.Active,
				"group_id": nil, "role_id": nil},
		}
	}
	writePage(w, r, "users", out)
}

// filter applies amo's list filters and full-text query to records.
func filter(q url.Values, recs []connectortest.Record, search func(string) []connectortest.Record) []connectortest.Record {
	if query := q.Get("query"); query != "" {
		recs = search(query)
	}
	ids := append(q["filter[id][]"], q["filter[id]"]...)
	users := append(q["filter[responsible_user_id][]"], q["filter[responsible_user_id]"]...)
	return slices.DeleteFunc(recs, func(r connectortest.Record) bool {
		return (len(ids) > 0 && !slices.Contains(ids, strconv.FormatInt(num(r.ID), 10))) ||
			(len(users) > 0 && !slices.Contains(users, r.ResponsibleUserID))
	})
}

// handleHolders serves GET /api/v4/contacts and /api/v4/companies.
func (h *Handler) handleHolders(w http.ResponseWriter, r *http.Request) {
	companies := strings.HasSuffix(r.URL.Path, "/companies")
	only := func(recs []connectortest.Record) []connectortest.Record {
		return slices.DeleteFunc(recs, func(rec connectortest.Record) bool { return rec.Company != companies })
	}
	q := r.URL.Query()
	recs := filter(q, only(h.Backend.Records(connectors.KindContact)), func(s string) []connectortest.Record {
		return only(h.Backend.Search(connectors.KindContact, s))
	})
	withLeads := slices.Contains(strings.Split(q.Get("with"), ","), "leads")
	out := make([]map[string]any, len(recs))
	for i, rec := range recs {
		out[i] = h.holderJSON(rec, withLeads)
	}
	name := "contacts"
	if companies {
		name = "companies"
	}
	writePage(w, r, name, out)
}

func (h *Handler) holderJSON(rec connectortest.Record, withLeads bool) map[string]any {
	var fields any
	if len(rec.Phones) > 0 {
		vals := make([]map[string]any, len(rec.Phones))
		for i, p := range rec.Phones {
			vals[i] = map[string]any{"value": p, "enum_id": 1, "enum_code": "WORK"}
		}
		fields = []map[string]any{{"field_id": phoneFieldID, "field_name": "Телефон", "field_code": "PHONE",
			"field_type": "multitext", "values": vals}}
	}
	embedded := map[string]any{"tags": []any{}, "companies": []any{}}
	if withLeads {
		leads := []map[string]any{}
		for _, l := range h.Backend.Linked(rec.ID, connectors.KindDeal) {
			leads = append(leads, map[string]any{"id": num(l.ID)})
		}
		embedded["leads"] = leads
	}
	return map[string]any{
		"id": num(rec.ID), "name": rec.Title, "first_name": "", "last_name": "",
		"responsible_user_id": num(rec.ResponsibleUserID), "group_id": 0,
		"created_by": 0, "updated_by": 0, "created_at": unixOr(rec), "updated_at": unixOr(rec),
		"closest_task_at": nil, "is_deleted": false, "custom_fields_values": fields,
		"account_id": accountID, "_embedded": embedded,
	}
}

func unixOr(rec connectortest.Record) int64 {
	if rec.UpdatedAt.IsZero() {
		return 1767225600 // 2026-01-01
	}
	return rec.UpdatedAt.Unix()
}

// handleLeads serves GET /api/v4/leads (amo "leads" are deals). A query
// matches deal titles and, as reported of amo, the linked contacts' fields.
func (h *Handler) handleLeads(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	recs := filter(q, h.Backend.Records(connectors.KindDeal), func(s string) []connectortest.Record {
		hits := h.Backend.Search(connectors.KindDeal, s)
		for _, c := range h.Backend.Search(connectors.KindContact, s) {
			for _, d := range h.Backend.Linked(c.ID, connectors.KindDeal) {
				if !slices.ContainsFunc(hits, func(x connectortest.Record) bool { return x.ID == d.ID }) {
					hits = append(hits, d)
				}
			}
		}
		return hits
	})
	out := make([]map[string]any, len(recs))
	for i, rec := range recs {
		status, closed := statusOpen, any(nil)
		if rec.Closed {
			status, closed = statusWon, unixOr(rec)
		}
		out[i] = map[string]any{
			"id": num(rec.ID), "name": rec.Title, "price": 0,
			"responsible_user_id": num(rec.ResponsibleUserID), "group_id": 0,
			"status_id": status, "pipeline_id": pipelineID, "loss_reason_id": nil,
			"created_by": 0, "updated_by": 0, "created_at": unixOr(rec), "updated_at": unixOr(rec),
			"closed_at": closed, "closest_task_at": nil, "is_deleted": false,
			"custom_fields_values": nil, "score": nil, "account_id": accountID,
			"_embedded": map[string]any{"tags": []any{}, "companies": []any{}},
		}
	}
	writePage(w, r, "leads", out)
}
