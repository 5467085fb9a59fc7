package bitrix24

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// Bitrix24 CRM entity types, as the telephony methods name them.
const (
	typeLead    = "LEAD"
	typeDeal    = "DEAL"
	typeContact = "CONTACT"
	typeCompany = "COMPANY"
)

// ownerTypeIDs are the numeric CRM object types of the crm.* methods.
var ownerTypeIDs = map[string]string{typeLead: "1", typeDeal: "2", typeContact: "3", typeCompany: "4"}

// companyPrefix marks company ids among contact entities.
const companyPrefix = "company:"

// dealFields are the crm.deal.list fields we read.
var dealFields = []string{"ID", "TITLE", "ASSIGNED_BY_ID", "CLOSED", "DATE_MODIFY"}

// Errors that say the app may not call searchCrmEntities, so lookups fall
// back to crm.duplicate.findbycomm.
var searchUnavailable = map[string]bool{
	"ERROR_METHOD_NOT_FOUND": true, "METHOD_NOT_FOUND": true, "insufficient_scope": true,
	"WRONG_AUTH_TYPE": true, "ACCESS_DENIED": true,
}

type searchHit struct {
	Type flexString `json:"CRM_ENTITY_TYPE"`
	ID   flexString `json:"CRM_ENTITY_ID"`
}

type phoneJSON struct {
	Value string `json:"VALUE"`
}

// recordJSON is a lead, deal, contact or company as crm.*.get returns it.
type recordJSON struct {
	ID             flexString  `json:"ID"`
	Title          string      `json:"TITLE"`
	Name           string      `json:"NAME"`
	LastName       string      `json:"LAST_NAME"`
	AssignedBy     flexString  `json:"ASSIGNED_BY_ID"`
	Phones         []phoneJSON `json:"PHONE"`
	DateModify     string      `json:"DATE_MODIFY"`
	StatusSemantic string      `json:"STATUS_SEMANTIC_ID"` // leads: P in work, S converted, F junk
	Closed         flexBool    `json:"CLOSED"`             // deals
}

func (r recordJSON) phones() []string {
	out := make([]string, 0, len(r.Phones))
	for _, p := range r.Phones {
		out = append(out, p.Value)
	}
	return out
}

func (r recordJSON) entity(kind connectors.EntityKind, prefix string) connectors.Entity {
	title := r.Title
	if name := strings.TrimSpace(r.Name + " " + r.LastName); name != "" {
		title = name
	}
	e := connectors.Entity{Kind: kind, ID: prefix + string(r.ID), Title: title, ResponsibleUserID: string(r.AssignedBy)}
	if e.ResponsibleUserID == "0" {
		e.ResponsibleUserID = ""
	}
	if t, err := time.Parse(time.RFC3339, r.DateModify); err == nil {
		e.UpdatedAt = t.UTC()
	}
	return e
}

// FindByPhone implements connectors.Connector; see the package comment for
// what each kind means.
func (c *Client) FindByPhone(ctx context.Context, kind connectors.EntityKind, phone string) ([]connectors.Entity, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("bitrix24: find %s: %w", kind, connectors.ErrUnsupported)
	}
	cands, err := c.candidates(ctx, phone)
	if err != nil {
		return nil, fmt.Errorf("bitrix24: find %s by phone: %w", kind, err)
	}
	cmds := readCommands(kind, cands)
	ans, err := c.batches(ctx, cmds)
	if err != nil {
		return nil, fmt.Errorf("bitrix24: find %s by phone: %w", kind, err)
	}
	out := []connectors.Entity{}
	seen := map[string]int{} // deal id → index in out
	for i := 0; i < len(cmds); i++ {
		var r recordJSON
		if err := ans.decode(cmds[i].key, &r); errors.Is(err, connectors.ErrNotFound) {
			i += holderStep(kind) - 1 // deleted since the search
			continue
		} else if err != nil {
			return nil, fmt.Errorf("bitrix24: find %s by phone: read %s: %w", kind, cmds[i].method, err)
		}
		ok := connectors.AnyPhone(r.phones(), phone)
		switch {
		case kind == connectors.KindLead:
			if ok {
				e := r.entity(kind, "")
				e.Phones, e.Closed = r.phones(), r.StatusSemantic == "S" || r.StatusSemantic == "F"
				out = append(out, e)
			}
		case kind == connectors.KindContact:
			if ok {
				e := r.entity(kind, prefixOf(cmds[i].method))
				e.Phones = r.phones()
				out = append(out, e)
			}
		default: // a holder, then its deals
			i++
			var deals []recordJSON
			if err := ans.decode(cmds[i].key, &deals); err != nil {
				return nil, fmt.Errorf("bitrix24: find deal by phone: list deals: %w", err)
			}
			if !ok {
				continue
			}
			for _, d := range deals {
				if n, dup := seen[string(d.ID)]; dup {
					out[n].Phones = append(out[n].Phones, r.phones()...)
					continue
				}
				e := d.entity(kind, "")
				e.Phones, e.Closed = r.phones(), bool(d.Closed)
				seen[string(d.ID)] = len(out)
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// readCommands reads the candidates of kind: each lead, or each contact
// and company (with, for deals, its deals).
func readCommands(kind connectors.EntityKind, cands map[string][]string) []command {
	var cmds []command
	add := func(prefix, method string, params url.Values) {
		cmds = append(cmds, command{key: prefix + strconv.Itoa(len(cmds)), method: method, params: params})
	}
	if kind == connectors.KindLead {
		for _, id := range cands[typeLead] {
			add("l", "crm.lead.get", url.Values{"id": {id}})
		}
		return cmds
	}
	for _, typ := range []string{typeContact, typeCompany} {
		for _, id := range cands[typ] {
			add("h", "crm."+strings.ToLower(typ)+".get", url.Values{"id": {id}})
			if kind == connectors.KindDeal {
				add("d", "crm.deal.list", url.Values{"filter[" + typ + "_ID]": {id},
					"select[]": dealFields, "order[ID]": {"DESC"}})
			}
		}
	}
	return cmds
}

// holderStep is how many commands FindByPhone sends per candidate.
func holderStep(kind connectors.EntityKind) int {
	if kind == connectors.KindDeal {
		return 2
	}
	return 1
}

func prefixOf(method string) string {
	if method == "crm.company.get" {
		return companyPrefix
	}
	return ""
}

// candidates returns the ids of the contacts, companies and leads Bitrix24
// finds for phone, by entity type. Concurrent callers for one number share
// one search; the result is read-only.
func (c *Client) candidates(ctx context.Context, phone string) (map[string][]string, error) {
	v, err, shared := c.searches.Do(phone, func() (any, error) { return c.search(ctx, phone) })
	if err != nil && shared && ctx.Err() == nil &&
		(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		v, err = c.search(ctx, phone) // the caller that ran it gave up, not us
	}
	if err != nil {
		return nil, err
	}
	return v.(map[string][]string), nil
}

// search asks telephony.externalCall.searchCrmEntities, or
// crm.duplicate.findbycomm when the app may not call it.
func (c *Client) search(ctx context.Context, phone string) (map[string][]string, error) {
	out := map[string][]string{}
	var hits []searchHit
	_, err := c.call(ctx, "telephony.externalCall.searchCrmEntities", url.Values{"PHONE_NUMBER": {phone}}, &hits)
	if err == nil {
		for _, h := range hits {
			typ := strings.ToUpper(string(h.Type))
			if h.ID != "" && !slices.Contains(out[typ], string(h.ID)) {
				out[typ] = append(out[typ], string(h.ID))
			}
		}
		return out, nil
	}
	if !searchUnavailable[errorCode(err)] {
		return nil, fmt.Errorf("search crm entities: %w", err)
	}
	var found phpMap[[]flexString]
	params := url.Values{"type": {"PHONE"}, "values[]": {phone}}
	if _, err := c.call(ctx, "crm.duplicate.findbycomm", params, &found); err != nil {
		return nil, fmt.Errorf("find by communication: %w", err)
	}
	for typ, ids := range found {
		for _, id := range ids {
			out[strings.ToUpper(typ)] = append(out[strings.ToUpper(typ)], string(id))
		}
	}
	return out, nil
}

// batches runs cmds in batches of maxBatch and merges the answers.
func (c *Client) batches(ctx context.Context, cmds []command) (*batchAnswer, error) {
	all := &batchAnswer{Result: phpMap[json.RawMessage]{}, Errors: phpMap[apiError]{}, Total: phpMap[int]{}}
	for chunk := range slices.Chunk(cmds, maxBatch) {
		ans, err := c.batch(ctx, chunk)
		if err != nil {
			return nil, err
		}
		for k, v := range ans.Result {
			all.Result[k] = v
		}
		for k, v := range ans.Errors {
			all.Errors[k] = v
		}
		for k, v := range ans.Total {
			all.Total[k] = v
		}
	}
	return all, nil
}

// CountOwned implements connectors.OwnedCounter: the totals of
// crm.{lead,deal,contact,company}.list filtered by ASSIGNED_BY_ID, in one
// batch. Companies count as contacts.
func (c *Client) CountOwned(ctx context.Context, userID string) (map[connectors.EntityKind]int, error) {
	if _, err := bitrixID(userID); err != nil {
		return nil, fmt.Errorf("bitrix24: count owned: user: %w", err)
	}
	objects := []struct {
		typ  string
		kind connectors.EntityKind
	}{{"lead", connectors.KindLead}, {"deal", connectors.KindDeal}, {"contact", connectors.KindContact}, {"company", connectors.KindContact}}
	cmds := make([]command, len(objects))
	for i, o := range objects {
		cmds[i] = command{key: o.typ, method: "crm." + o.typ + ".list",
			params: url.Values{"filter[ASSIGNED_BY_ID]": {userID}, "select[]": {"ID"}}}
	}
	ans, err := c.batch(ctx, cmds)
	if err != nil {
		return nil, fmt.Errorf("bitrix24: count owned by %s: %w", userID, err)
	}
	out := map[connectors.EntityKind]int{}
	for _, o := range objects {
		var ids []struct{}
		if err := ans.decode(o.typ, &ids); err != nil {
			return nil, fmt.Errorf("bitrix24: count %ss of %s: %w", o.typ, userID, err)
		}
		n, ok := ans.Total[o.typ]
		if !ok {
			n = len(ids)
		}
		out[o.kind] += n
	}
	return out, nil
}

// bitrixID checks one of our string ids (a user or a record) is a Bitrix24
// id and returns it without the company prefix.
func bitrixID(s string) (string, error) {
	id := strings.TrimPrefix(s, companyPrefix)
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
		return "", fmt.Errorf("id %q: %w", s, connectors.ErrInvalid)
	}
	return id, nil
}

// entityType returns the Bitrix24 entity type (LEAD, DEAL, CONTACT,
// COMPANY) and id of ref.
func entityType(ref connectors.EntityRef) (typ, id string, err error) {
	if id, err = bitrixID(ref.ID); err != nil {
		return "", "", err
	}
	switch {
	case ref.Kind == connectors.KindLead:
		return typeLead, id, nil
	case ref.Kind == connectors.KindDeal:
		return typeDeal, id, nil
	case ref.Kind == connectors.KindContact && strings.HasPrefix(ref.ID, companyPrefix):
		return typeCompany, id, nil
	case ref.Kind == connectors.KindContact:
		return typeContact, id, nil
	}
	return "", "", fmt.Errorf("entity kind %q: %w", ref.Kind, connectors.ErrUnsupported)
}
