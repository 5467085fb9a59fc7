package hubspottest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// epoch stands in for the creation and update times the Backend does not
// keep.
var epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func stamp(t time.Time) string {
	if t.IsZero() {
		t = epoch
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// objectKinds maps the object path segment onto the kind it holds.
var objectKinds = map[string]connectors.EntityKind{
	"contacts": connectors.KindContact,
	"0-3":      connectors.KindDeal,
	"leads":    connectors.KindLead,
}

// publicOwner is PublicOwner.
type publicOwner struct {
	ID        string `json:"id"`
	Email     string `json:"email,omitempty"`
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
	Type      string `json:"type"`
	UserID    int    `json:"userId,omitempty"`
	Archived  bool   `json:"archived"`
	Teams     []any  `json:"teams"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

type nextPage struct {
	After string `json:"after"`
	Link  string `json:"link,omitempty"`
}

type forwardPaging struct {
	Next *nextPage `json:"next,omitempty"`
}

// pageOf cuts one page of n items at the offset after, HubSpot's cursor
// being an opaque string (here a decimal offset).
func pageOf(n int, after string, limit int) (from, to int, next *forwardPaging, err error) {
	if after != "" {
		if from, err = strconv.Atoi(after); err != nil || from < 0 {
			return 0, 0, nil, fmt.Errorf("invalid after cursor %q", after)
		}
	}
	from = min(from, n)
	to = min(from+limit, n)
	if to < n {
		next = &forwardPaging{Next: &nextPage{After: strconv.Itoa(to)}}
	}
	return from, to, next, nil
}

// handleOwners is GET /crm/v3/owners: limit (≤ 500), after, email,
// archived (false by default: archived owners only when asked).
func (h *Handler) handleOwners(w http.ResponseWriter, r *http.Request) {
	if h.intercept(w, r) || !h.authorized(w, r) {
		return
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "limit must be between 1 and 500")
			return
		}
		limit = n
	}
	archived := q.Get("archived") == "true"
	var owners []publicOwner
	for _, u := range h.Backend.Users() {
		if u.Active == archived || (q.Get("email") != "" && !strings.EqualFold(q.Get("email"), u.Email)) {
			continue
		}
		first, last, _ := strings.Cut(u.Name, " ")
		o := publicOwner{
			ID: u.ID, Email: u.Email, FirstName: first, LastName: last, Type: "PERSON",
			Archived: !u.Active, Teams: []any{}, CreatedAt: stamp(epoch), UpdatedAt: stamp(epoch),
		}
		if n, err := strconv.Atoi(u.ID); err == nil {
			o.UserID = 1_000_000 + n // user ids differ from owner ids
		}
		owners = append(owners, o)
	}
	from, to, next, err := pageOf(len(owners), q.Get("after"), limit)
	if err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Results []publicOwner  `json:"results"`
		Paging  *forwardPaging `json:"paging,omitempty"`
	}{append([]publicOwner{}, owners[from:to]...), next})
}

// simpleObject is SimplePublicObject.
type simpleObject struct {
	ID                 string            `json:"id"`
	Properties         map[string]string `json:"properties"`
	CreatedAt          string            `json:"createdAt"`
	UpdatedAt          string            `json:"updatedAt"`
	Archived           bool              `json:"archived"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId,omitempty"`
}

// knownProps are the properties a kind has in the fake; searching on any
// other is a 400, as in HubSpot.
var knownProps = map[connectors.EntityKind][]string{
	connectors.KindContact: {"hs_object_id", "createdate", "lastmodifieddate", "firstname", "lastname", "email",
		"phone", "mobilephone", "hs_searchable_calculated_phone_number", "hs_searchable_calculated_mobile_number",
		"hubspot_owner_id"},
	connectors.KindDeal: {"hs_object_id", "createdate", "hs_lastmodifieddate", "dealname", "dealstage",
		"pipeline", "hs_is_closed", "hubspot_owner_id"},
	connectors.KindLead: {"hs_object_id", "hs_createdate", "hs_lastmodifieddate", "hs_lead_name",
		"hs_pipeline", "hs_pipeline_stage", "hubspot_owner_id"},
}

// properties renders a Backend record as HubSpot properties.
func properties(rec connectortest.Record) map[string]string {
	p := map[string]string{"hs_object_id": rec.ID, "hubspot_owner_id": rec.ResponsibleUserID}
	switch rec.Kind {
	case connectors.KindContact:
		p["createdate"], p["lastmodifieddate"] = stamp(epoch), stamp(rec.UpdatedAt)
		p["firstname"], p["lastname"], _ = strings.Cut(rec.Title, " ")
		for i, k := range []string{"phone", "mobilephone"} {
			if i < len(rec.Phones) {
				p[k] = rec.Phones[i]
			}
		}
		p["hs_searchable_calculated_phone_number"] = connectors.PhoneDigits(p["phone"])
		p["hs_searchable_calculated_mobile_number"] = connectors.PhoneDigits(p["mobilephone"])
	case connectors.KindDeal:
		p["createdate"], p["hs_lastmodifieddate"] = stamp(epoch), stamp(rec.UpdatedAt)
		p["dealname"], p["pipeline"] = rec.Title, "default"
		p["dealstage"], p["hs_is_closed"] = "appointmentscheduled", "false"
		if rec.Closed {
			p["dealstage"], p["hs_is_closed"] = "closedwon", "true"
		}
	case connectors.KindLead:
		p["hs_createdate"], p["hs_lastmodifieddate"] = stamp(epoch), stamp(rec.UpdatedAt)
		p["hs_lead_name"], p["hs_pipeline"] = rec.Title, "lead-pipeline-id"
		p["hs_pipeline_stage"] = "new-stage-id"
		if rec.Closed {
			p["hs_pipeline_stage"] = "unqualified-stage-id"
		}
	}
	return p
}

// searchRequest is PublicObjectSearchRequest.
type searchRequest struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Properties []string `json:"properties"`
	Limit      int      `json:"limit"`
	After      string   `json:"after"`
	Query      string   `json:"query"`
}

type searchFilter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        string   `json:"value"`
	Values       []string `json:"values"`
}

// handleSearch is POST /crm/v3/objects/{contacts,0-3,leads}/search.
func (h *Handler) handleSearch(w http.ResponseWriter, r *http.Request) {
	if h.intercept(w, r) || !h.authorized(w, r) {
		return
	}
	kind, ok := objectKinds[r.PathValue("object")]
	if !ok {
		writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "no search for "+r.PathValue("object")+" in the fake")
		return
	}
	var req searchRequest
	if !decode(w, r, &req) {
		return
	}
	nFilters := 0
	for _, g := range req.FilterGroups {
		nFilters += len(g.Filters)
	}
	limit := cmp.Or(req.Limit, 10)
	switch {
	case len(req.FilterGroups) > 5:
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Too many filter groups: at most 5")
		return
	case nFilters > 18:
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Too many filters: at most 18")
		return
	case limit < 1 || limit > 200:
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "limit must be between 1 and 200")
		return
	}
	var hits []connectortest.Record
	var queryHits []string
	if req.Query != "" {
		for _, rec := range h.Backend.Search(kind, req.Query) {
			queryHits = append(queryHits, rec.ID)
		}
	}
	for _, rec := range h.Backend.Records(kind) {
		if rec.Company || (req.Query != "" && !slices.Contains(queryHits, rec.ID)) {
			continue
		}
		ok, err := h.matchGroups(rec, req)
		if err != nil {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", err.Error())
			return
		}
		if ok {
			hits = append(hits, rec)
		}
	}
	slices.SortFunc(hits, func(a, b connectortest.Record) int { return cmpID(a.ID, b.ID) })
	from, to, next, err := pageOf(len(hits), req.After, limit)
	if err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", err.Error())
		return
	}
	results := []simpleObject{}
	for _, rec := range hits[from:to] {
		results = append(results, object(rec, req.Properties))
	}
	writeJSON(w, http.StatusOK, struct {
		Total   int            `json:"total"`
		Results []simpleObject `json:"results"`
		Paging  *forwardPaging `json:"paging,omitempty"`
	}{len(hits), results, next})
}

// cmpID orders decimal ids numerically.
func cmpID(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// object renders rec with the requested properties (plus HubSpot's
// defaults), leaving unset ones out: the document types property values as
// strings, where the live API sends null.
func object(rec connectortest.Record, want []string) simpleObject {
	all := properties(rec)
	props := map[string]string{"hs_object_id": rec.ID}
	for _, k := range want {
		if v := all[k]; v != "" {
			props[k] = v
		}
	}
	return simpleObject{ID: rec.ID, Properties: props, CreatedAt: stamp(epoch), UpdatedAt: stamp(rec.UpdatedAt)}
}

// matchGroups reports whether rec matches any filter group (all its
// filters); no groups match everything.
func (h *Handler) matchGroups(rec connectortest.Record, req searchRequest) (bool, error) {
	if len(req.FilterGroups) == 0 {
		return true, nil
	}
	props := properties(rec)
	matched := false
	for _, g := range req.FilterGroups {
		all := len(g.Filters) > 0
		for _, f := range g.Filters {
			ok, err := h.matchFilter(rec, props, f)
			if err != nil {
				return false, err
			}
			all = all && ok
		}
		matched = matched || all
	}
	return matched, nil
}

func (h *Handler) matchFilter(rec connectortest.Record, props map[string]string, f searchFilter) (bool, error) {
	if f.PropertyName == "associations.contact" {
		if rec.Kind == connectors.KindContact || (f.Operator != "EQ" && f.Operator != "IN") {
			return false, fmt.Errorf("unsupported filter %s %s", f.PropertyName, f.Operator)
		}
		for _, c := range h.Backend.Linked(rec.ID, connectors.KindContact) {
			if c.ID == f.Value || slices.Contains(f.Values, c.ID) {
				return true, nil
			}
		}
		return false, nil
	}
	if !slices.Contains(knownProps[rec.Kind], f.PropertyName) {
		return false, fmt.Errorf("property %q does not exist", f.PropertyName)
	}
	v := props[f.PropertyName]
	calculated := strings.HasPrefix(f.PropertyName, "hs_searchable_calculated_")
	switch f.Operator {
	case "EQ":
		if calculated {
			return nationalMatch(v, f.Value), nil
		}
		return strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(f.Value)), nil
	case "NEQ":
		return !strings.EqualFold(v, f.Value), nil
	case "IN":
		return slices.ContainsFunc(f.Values, func(s string) bool { return strings.EqualFold(s, v) }), nil
	case "HAS_PROPERTY":
		return v != "", nil
	case "NOT_HAS_PROPERTY":
		return v == "", nil
	case "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
		ok := containsToken(v, f.Value)
		return ok == (f.Operator == "CONTAINS_TOKEN"), nil
	}
	return false, fmt.Errorf("operator %s is not supported by the fake", f.Operator)
}

// nationalMatch stands in for HubSpot's calculated national number: the
// stored digits match when they are the queried digits after at most three
// leading digits (a country code or trunk prefix).
func nationalMatch(stored, query string) bool {
	query = connectors.PhoneDigits(query)
	return query != "" && strings.HasSuffix(stored, query) && len(stored)-len(query) <= 3
}

// containsToken matches a CONTAINS_TOKEN pattern (with * wildcards at
// either end) against the value's tokens, case-insensitively.
func containsToken(value, pattern string) bool {
	pattern = strings.ToLower(pattern)
	core := strings.Trim(pattern, "*")
	if core == "" {
		return false
	}
	prefix, suffix := strings.HasPrefix(pattern, "*"), strings.HasSuffix(pattern, "*")
	tokens := strings.FieldsFunc(strings.ToLower(value), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '@' || r == '.' || r == '_' || r == '-')
	})
	for _, t := range tokens {
		switch {
		case prefix && suffix && strings.Contains(t, core),
			prefix && !suffix && strings.HasSuffix(t, core),
			!prefix && suffix && strings.HasPrefix(t, core),
			t == core:
			return true
		}
	}
	return false
}
