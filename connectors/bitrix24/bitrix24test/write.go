package bitrix24test

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// reuseWindow is how long register hands out an unfinished call's CALL_ID
// again for the same phone, type, user, line and EXTERNAL_CALL_ID.
const reuseWindow = 30 * time.Minute

// call is an external call the fake registered.
type call struct {
	id         string // CALL_ID
	key        string // what register matches a repeat by
	registered time.Time
	finished   bool
	activity   string // CRM_ACTIVITY_ID, once finished on a record
	entityType string
	entityID   string
	act        connectors.CallActivity // what the Backend records
	backendID  string
}

// nextID returns a fresh numeric id; callers hold h.mu.
func (h *Handler) nextID() int {
	h.lastID++
	return 7000 + h.lastID
}

// activeUser checks a USER_ID.
func (h *Handler) activeUser(id string) *apiError {
	if u, ok := h.Backend.User(id); !ok || !u.Active {
		return errorf(http.StatusBadRequest, "ERROR_CORE", "User is not found or is not active")
	}
	return nil
}

func (h *Handler) register(s *session, p params) (any, *list, *apiError) {
	user, phone, typ := p.get("USER_ID"), p.get("PHONE_NUMBER"), p.int("TYPE", 0)
	switch {
	case user == "":
		return nil, nil, errorf(http.StatusBadRequest, "ERROR_CORE", "USER_ID or USER_PHONE_INNER should be set")
	case phone == "":
		return nil, nil, errorf(http.StatusBadRequest, "ERROR_CORE", "PHONE_NUMBER should be set")
	case typ < 1 || typ > 5:
		return nil, nil, errorf(http.StatusBadRequest, "ERROR_CORE", "Unknown call type")
	}
	if e := h.activeUser(user); e != nil {
		return nil, nil, e
	}
	now := h.now()
	extID := p.get("EXTERNAL_CALL_ID")
	key := fmt.Sprint(phone, "|", typ, "|", user, "|", p.get("LINE_NUMBER"), "|", extID)
	if c, ok := h.byKey[key]; ok && !c.finished && now.Sub(c.registered) < reuseWindow {
		return registerAnswer(c), nil, nil // Bitrix24's reuse, the reason for EXTERNAL_CALL_ID
	}
	h.externalIDs = append(h.externalIDs, extID)
	c := &call{id: fmt.Sprintf("externalCall.%s.%d", randomHex(16), now.Unix()), key: key, registered: now}
	c.act = connectors.CallActivity{ExternalCallID: extID, Direction: connectors.Inbound, From: phone, Responsible: user}
	if typ == 1 {
		c.act.Direction = connectors.Outbound
	}
	if t, err := time.Parse(time.RFC3339, p.get("CALL_START_DATE")); err == nil {
		c.act.StartedAt = t.UTC()
	}
	if r, ok := h.find(p.get("CRM_ENTITY_TYPE"), p.get("CRM_ENTITY_ID")); ok && typeOf(r) != typeDeal {
		c.bind(r)
	} else if r, ok := h.holder(phone); ok {
		c.bind(r)
	}
	h.calls[c.id], h.byKey[key] = c, c
	s.touch(c)
	return registerAnswer(c), nil, nil
}

func (c *call) bind(r connectortest.Record) {
	c.entityType, c.entityID = typeOf(r), r.ID
	ref := &connectors.EntityRef{Kind: r.Kind, ID: r.ID}
	if r.Company {
		ref.ID = "company:" + r.ID
	}
	c.act.Entity = ref
}

// holder is the record Bitrix24 binds a call to by number: a contact, else
// a company, else a lead holding exactly that number.
func (h *Handler) holder(phone string) (connectortest.Record, bool) {
	for _, typ := range []string{typeContact, typeCompany, typeLead} {
		for _, r := range h.search(phone) {
			if typeOf(r) == typ && connectors.AnyPhone(r.Phones, phone) {
				return r, true
			}
		}
	}
	return connectortest.Record{}, false
}

func registerAnswer(c *call) map[string]any {
	out := map[string]any{"CALL_ID": c.id, "CRM_CREATED_LEAD": nil, "CRM_CREATED_ENTITIES": []any{},
		"CRM_ENTITY_TYPE": c.entityType, "CRM_ENTITY_ID": nil}
	if n, ok := numeric(c.entityID); ok {
		out["CRM_ENTITY_ID"] = n
	}
	return out
}

// openCall returns the call named by CALL_ID, finished or not as wanted.
func (h *Handler) openCall(p params, finished bool) (*call, *apiError) {
	c, ok := h.calls[p.get("CALL_ID")]
	if !ok || c.finished != finished {
		return nil, errorf(http.StatusBadRequest, "ERROR_CORE", "Call is not found (call should be registered prior to finishing)")
	}
	return c, nil
}

func (h *Handler) finish(s *session, p params) (any, *list, *apiError) {
	c, e := h.openCall(p, false)
	if e != nil {
		return nil, nil, e
	}
	user := p.get("USER_ID")
	if user == "" {
		return nil, nil, errorf(http.StatusBadRequest, "ERROR_CORE", "USER_ID or USER_PHONE_INNER should be set")
	}
	if e := h.activeUser(user); e != nil {
		return nil, nil, e
	}
	duration := p.int("DURATION", 0)
	status := p.get("STATUS_CODE")
	if status == "" {
		status = map[bool]string{true: "200", false: "304"}[duration > 0]
	}
	c.finished = true
	c.act.Duration = time.Duration(duration) * time.Second
	c.act.Answered = status == "200"
	if c.act.Answered {
		c.act.AnsweredBy = user
	}
	var activity any
	if c.entityType != "" {
		c.activity = strconv.Itoa(h.nextID())
		h.activities[c.activity] = c
		activity, _ = numeric(c.activity)
	}
	s.touch(c)
	entityID, _ := numeric(c.entityID)
	return map[string]any{
		"ID": h.nextID(), "CALL_ID": c.id, "EXTERNAL_CALL_ID": c.act.ExternalCallID, "PORTAL_USER_ID": user,
		"PHONE_NUMBER": c.act.From, "CALL_DURATION": duration, "CALL_STATUS": map[bool]int{true: 1}[c.act.Answered],
		"CALL_FAILED_CODE": status, "CRM_ACTIVITY_ID": activity, "COMMENT": nil,
		"CRM_ENTITY_TYPE": c.entityType, "CRM_ENTITY_ID": entityID,
	}, nil, nil
}

func (h *Handler) attachRecord(s *session, p params) (any, *list, *apiError) {
	c, e := h.openCall(p, true)
	if e != nil {
		return nil, nil, e
	}
	u := p.get("RECORD_URL")
	if u == "" {
		return nil, nil, errorf(http.StatusBadRequest, "ERROR_CORE", "RECORD_URL or FILE_CONTENT should be set")
	}
	c.act.RecordingURL = u
	s.touch(c)
	return map[string]any{"FILE_ID": h.nextID()}, nil, nil
}

// saveNote is crm.timeline.note.save on a call activity (itemType 2);
// history records (itemType 1) are not modelled.
func (h *Handler) saveNote(s *session, p params) (any, *list, *apiError) {
	c, ok := h.activities[p.get("itemId")]
	switch {
	case p.get("text") == "":
		return nil, nil, errorf(http.StatusBadRequest, "100", "Required fields are not provided: text")
	case p.get("itemType") != "2" || !ok || ownerTypes[p.get("ownerTypeId")] != c.entityType || p.get("ownerId") != c.entityID:
		return nil, nil, errorf(http.StatusBadRequest, "NOT_FOUND", "Element not found")
	}
	c.act.Comment = p.get("text")
	s.touch(c)
	return true, nil, nil
}

func (h *Handler) addTodo(_ *session, p params) (any, *list, *apiError) {
	typ := ownerTypes[p.get("ownerTypeId")]
	r, ok := h.find(typ, p.get("ownerId"))
	if !ok {
		return nil, nil, notFound()
	}
	due, err := time.Parse(time.RFC3339, p.get("deadline"))
	if err != nil {
		return nil, nil, errorf(http.StatusBadRequest, "ERROR_ARGUMENT", "deadline: a date and time is required")
	}
	user := p.get("responsibleId")
	if user != "" {
		if e := h.activeUser(user); e != nil {
			return nil, nil, e
		}
	}
	ref := &connectors.EntityRef{Kind: r.Kind, ID: r.ID}
	if r.Company {
		ref.ID = "company:" + r.ID
	}
	text := p.get("description")
	if text == "" {
		text = p.get("title")
	}
	id := h.Backend.CreateTask(connectors.Task{ResponsibleUserID: user, Entity: ref, Text: text, Due: due})
	n, _ := numeric(id)
	return map[string]any{"id": n}, nil, nil
}
