package bitrix24test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// Bitrix24 entity types.
const (
	typeLead    = "LEAD"
	typeDeal    = "DEAL"
	typeContact = "CONTACT"
	typeCompany = "COMPANY"
)

// ownerTypes maps the crm.* numeric object types.
var ownerTypes = map[string]string{"1": typeLead, "2": typeDeal, "3": typeContact, "4": typeCompany}

// pageSize is Bitrix24's fixed page.
const pageSize = 50

// modified is the DATE_MODIFY of records that carry no UpdatedAt.
var modified = time.Date(2026, 1, 5, 9, 0, 0, 0, time.FixedZone("MSK", 3*3600))

func typeOf(r connectortest.Record) string {
	switch {
	case r.Kind == connectors.KindLead:
		return typeLead
	case r.Kind == connectors.KindDeal:
		return typeDeal
	case r.Company:
		return typeCompany
	}
	return typeContact
}

// find returns the record of typ with id.
func (h *Handler) find(typ, id string) (connectortest.Record, bool) {
	r, ok := h.Backend.Record(id)
	return r, ok && typeOf(r) == typ
}

func (h *Handler) userGet(_ *session, p params) (any, *list, *apiError) {
	filter := p.sub("FILTER")
	var users []map[string]any
	for _, u := range h.Backend.Users() {
		if filter.flag("ACTIVE") && !u.Active {
			continue
		}
		if id := filter.get("ID"); id != "" && id != u.ID {
			continue
		}
		users = append(users, userJSON(u))
	}
	start := max(p.int("start", 0), 0)
	return paginate(users, start)
}

func paginate[T any](all []T, start int) ([]T, *list, *apiError) {
	page := []T{}
	if start < len(all) {
		page = all[start:min(start+pageSize, len(all))]
	}
	l := &list{total: len(all)}
	if start+pageSize < len(all) {
		l.next = start + pageSize
	}
	return page, l, nil
}

// userJSON is a user as user.get answers: the name split in two, short
// numbers as the extension (UF_PHONE_INNER), the others as work, mobile
// and personal phones.
func userJSON(u connectors.User) map[string]any {
	name, last := u.Name, ""
	if i := strings.LastIndexByte(u.Name, ' '); i > 0 {
		name, last = u.Name[:i], u.Name[i+1:]
	}
	out := map[string]any{"ID": u.ID, "ACTIVE": u.Active, "NAME": name, "LAST_NAME": last, "EMAIL": u.Email,
		"UF_PHONE_INNER": nil, "WORK_PHONE": "", "PERSONAL_MOBILE": "", "PERSONAL_PHONE": "", "USER_TYPE": "employee"}
	slots := []string{"WORK_PHONE", "PERSONAL_MOBILE", "PERSONAL_PHONE"}
	for _, ph := range u.Phones {
		if d := connectors.PhoneDigits(ph); d == ph && len(d) <= 6 && out["UF_PHONE_INNER"] == nil {
			out["UF_PHONE_INNER"] = ph
		} else if len(slots) > 0 {
			out[slots[0]], slots = ph, slots[1:]
		}
	}
	return out
}

func (h *Handler) userCurrent(_ *session, _ params) (any, *list, *apiError) {
	u, ok := h.Backend.User(h.CurrentUserID)
	if !ok {
		return nil, nil, errorf(http.StatusUnauthorized, "NO_AUTH_FOUND", "Wrong authorization data")
	}
	return userJSON(u), nil, nil
}

// search is the Backend's full-text search for phone's national digits
// over contacts, companies and leads.
func (h *Handler) search(phone string) []connectortest.Record {
	q := connectors.NationalDigits(phone)
	if len(connectors.PhoneDigits(q)) < 3 {
		return nil
	}
	return append(h.Backend.Search(connectors.KindContact, q), h.Backend.Search(connectors.KindLead, q)...)
}

func numeric(id string) (int, bool) {
	n, err := strconv.Atoi(id)
	return n, err == nil
}

func (h *Handler) searchCrmEntities(_ *session, p params) (any, *list, *apiError) {
	phone := p.get("PHONE_NUMBER")
	if phone == "" {
		return nil, nil, errorf(http.StatusBadRequest, "ERROR_ARGUMENT", "PHONE_NUMBER is required")
	}
	out := []map[string]any{}
	for _, r := range h.search(phone) {
		id, ok := numeric(r.ID)
		if !ok {
			continue
		}
		assigned, _ := numeric(r.ResponsibleUserID)
		out = append(out, map[string]any{
			"CRM_ENTITY_TYPE": typeOf(r), "CRM_ENTITY_ID": id, "ASSIGNED_BY_ID": assigned, "NAME": r.Title,
			"ASSIGNED_BY": map[string]any{"ID": r.ResponsibleUserID, "TIMEMAN_STATUS": "CLOSED",
				"USER_PHONE_INNER": nil, "WORK_PHONE": nil, "PERSONAL_PHONE": nil, "PERSONAL_MOBILE": nil},
		})
	}
	return out, nil, nil
}

func (h *Handler) findByComm(_ *session, p params) (any, *list, *apiError) {
	if !strings.EqualFold(p.get("type"), "PHONE") && !strings.EqualFold(p.get("type"), "EMAIL") {
		return nil, nil, errorf(http.StatusBadRequest, "ERROR_ARGUMENT", "Communication type is not supported")
	}
	values := p.list("values")
	if len(values) == 0 || len(values) > 20 {
		return nil, nil, errorf(http.StatusBadRequest, "ERROR_ARGUMENT", "values: 1 to 20 values are required")
	}
	want := strings.ToUpper(p.get("entity_type"))
	found := map[string]any{}
	if strings.EqualFold(p.get("type"), "PHONE") {
		for _, v := range values {
			for _, r := range h.search(v) {
				id, ok := numeric(r.ID)
				if typ := typeOf(r); ok && (want == "" || want == typ) {
					ids, _ := found[typ].([]int)
					if !slices.Contains(ids, id) {
						found[typ] = append(ids, id)
					}
				}
			}
		}
	}
	return phpObject(found), nil, nil
}

// recordJSON is a record as crm.*.get answers.
func (h *Handler) recordJSON(r connectortest.Record) map[string]any {
	typ := typeOf(r)
	mod := modified
	if !r.UpdatedAt.IsZero() {
		mod = r.UpdatedAt
	}
	out := map[string]any{"ID": r.ID, "ASSIGNED_BY_ID": r.ResponsibleUserID, "DATE_MODIFY": mod.Format(time.RFC3339)}
	if typ != typeDeal {
		phones := []map[string]string{}
		for i, ph := range r.Phones {
			phones = append(phones, map[string]string{"ID": strconv.Itoa(i + 1), "VALUE_TYPE": "WORK", "VALUE": ph, "TYPE_ID": "PHONE"})
		}
		if len(phones) > 0 {
			out["PHONE"] = phones
		}
		out["HAS_PHONE"] = map[bool]string{true: "Y", false: "N"}[len(phones) > 0]
	}
	switch typ {
	case typeContact:
		name, last := r.Title, ""
		if i := strings.IndexByte(r.Title, ' '); i > 0 {
			name, last = r.Title[:i], r.Title[i+1:]
		}
		out["NAME"], out["LAST_NAME"] = name, last
	case typeLead:
		out["TITLE"], out["STATUS_ID"], out["STATUS_SEMANTIC_ID"] = r.Title, "NEW", "P"
		if r.Closed {
			out["STATUS_ID"], out["STATUS_SEMANTIC_ID"] = "JUNK", "F"
		}
	case typeDeal:
		out["TITLE"], out["CLOSED"], out["STAGE_ID"], out["STAGE_SEMANTIC_ID"] = r.Title, "N", "NEW", "P"
		if r.Closed {
			out["CLOSED"], out["STAGE_ID"], out["STAGE_SEMANTIC_ID"] = "Y", "WON", "S"
		}
		out["CONTACT_ID"], out["COMPANY_ID"] = nil, nil
		for _, l := range r.Links {
			if c, ok := h.Backend.Record(l); ok && typeOf(c) == typeContact && out["CONTACT_ID"] == nil {
				out["CONTACT_ID"] = l
			} else if ok && typeOf(c) == typeCompany && out["COMPANY_ID"] == nil {
				out["COMPANY_ID"] = l
			}
		}
	default:
		out["TITLE"] = r.Title
	}
	return out
}

func getter(typ string) method {
	return func(h *Handler, _ *session, p params) (any, *list, *apiError) {
		r, ok := h.find(typ, p.get("id"))
		if !ok {
			return nil, nil, notFound()
		}
		return h.recordJSON(r), nil, nil
	}
}

// lister is crm.*.list with filter[ASSIGNED_BY_ID], filter[ID] and, for
// deals, filter[CONTACT_ID] and filter[COMPANY_ID] (the deal's links);
// order[ID]=DESC reverses.
func lister(typ string) method {
	return func(h *Handler, _ *session, p params) (any, *list, *apiError) {
		kind := map[string]connectors.EntityKind{typeLead: connectors.KindLead, typeDeal: connectors.KindDeal,
			typeContact: connectors.KindContact, typeCompany: connectors.KindContact}[typ]
		filter := p.sub("filter")
		var out []map[string]any
		for _, r := range h.Backend.Records(kind) {
			if typeOf(r) != typ {
				continue
			}
			if v := filter.get("ASSIGNED_BY_ID"); v != "" && v != r.ResponsibleUserID {
				continue
			}
			if v := filter.get("ID"); v != "" && v != r.ID {
				continue
			}
			if !h.linkedTo(r, filter.get("CONTACT_ID"), typeContact) || !h.linkedTo(r, filter.get("COMPANY_ID"), typeCompany) {
				continue
			}
			out = append(out, h.recordJSON(r))
		}
		if strings.EqualFold(p.sub("order").get("ID"), "DESC") {
			slices.Reverse(out)
		}
		return paginate(out, max(p.int("start", 0), 0))
	}
}

// linkedTo reports whether r is linked to the record id of typ ("": no
// filter).
func (h *Handler) linkedTo(r connectortest.Record, id, typ string) bool {
	if id == "" {
		return true
	}
	if _, ok := h.find(typ, id); !ok {
		return false
	}
	return slices.ContainsFunc(h.Backend.Linked(id, r.Kind), func(l connectortest.Record) bool { return l.ID == r.ID })
}

// appInfo answers app.info for the installed app.
func (h *Handler) appInfo(_ *session, _ params) (any, *list, *apiError) {
	return map[string]any{
		"ID": 7, "CODE": ClientID, "VERSION": 1, "STATUS": "L", "INSTALLED": true,
		"PAYMENT_EXPIRED": "N", "DAYS": nil, "LICENSE": "ru_project",
	}, nil, nil
}
