package hubspot

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

const (
	// searchPageSize is the largest page the search endpoints serve.
	searchPageSize = 200
	// maxFilterGroups is how many OR-ed filter groups HubSpot's search
	// accepts (its documentation says five; the spec says "up to 6").
	maxFilterGroups = 5
	// maxSearchResults is where HubSpot's search stops paging.
	maxSearchResults = 10000
)

// Object paths, as HubSpot's OpenAPI documents name them (the deals
// document uses the object type id 0-3 rather than "deals").
const (
	contactsPath = "/crm/v3/objects/contacts"
	dealsPath    = "/crm/v3/objects/0-3"
	leadsPath    = "/crm/v3/objects/leads"
	callsPath    = "/crm/v3/objects/calls"
)

// Properties read per kind.
var (
	contactProps = []string{"firstname", "lastname", "email", "phone", "mobilephone", "hubspot_owner_id"}
	dealProps    = []string{"dealname", "dealstage", "hs_is_closed", "hubspot_owner_id"}
	leadProps    = []string{"hs_lead_name", "hs_pipeline_stage", "hubspot_owner_id"}
)

// searchRequest is PublicObjectSearchRequest. HubSpot's document marks
// after, limit, properties and sorts required (its live API does not), so
// they are always sent.
type searchRequest struct {
	FilterGroups []filterGroup `json:"filterGroups"`
	Properties   []string      `json:"properties"`
	Sorts        []string      `json:"sorts"`
	Limit        int           `json:"limit"`
	After        string        `json:"after"`
}

type filterGroup struct {
	Filters []filter `json:"filters"`
}

type filter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        string `json:"value"`
}

func group(prop, op, value string) filterGroup {
	return filterGroup{Filters: []filter{{PropertyName: prop, Operator: op, Value: value}}}
}

// object is SimplePublicObject, the part we read. Unset properties come
// back as null (or not at all) and read as "".
type object struct {
	ID                 string            `json:"id"`
	Properties         map[string]string `json:"properties"`
	UpdatedAt          time.Time         `json:"updatedAt"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId"`
}

type searchPage struct {
	Total   int      `json:"total"`
	Results []object `json:"results"`
	Paging  *paging  `json:"paging"`
}

// search runs one search over every page. Each page is a search request,
// which HubSpot limits to 5 per second per account.
func (c *Client) search(ctx context.Context, path string, groups []filterGroup, props []string) ([]object, error) {
	req := searchRequest{FilterGroups: groups, Properties: props, Sorts: []string{}, Limit: searchPageSize, After: "0"}
	var out []object
	for {
		var page searchPage
		if err := c.do(ctx, "POST", path+"/search", req, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Results...)
		next := page.Paging.after()
		if next == "" || next == req.After || len(out) >= maxSearchResults {
			return out, nil
		}
		req.After = next
	}
}

// phoneGroups are the filter groups (OR-ed) that find a phone in HubSpot,
// whose search compares strings as stored ("+7 (916) 123-45-67" is not
// "+79161234567"). HubSpot keeps digits-only copies of phone and
// mobilephone (hs_searchable_calculated_*); a leading-wildcard token search
// on those finds the number whatever prefix it was stored with, and the
// exact E.164 forms catch records whose calculated copy is not yet
// computed (API-NOTES §3.3, §7.3). Hits are re-checked by the caller.
func phoneGroups(e164 string) []filterGroup {
	national := connectors.NationalDigits(e164)
	return []filterGroup{
		group("hs_searchable_calculated_phone_number", "CONTAINS_TOKEN", "*"+national),
		group("hs_searchable_calculated_mobile_number", "CONTAINS_TOKEN", "*"+national),
		group("hs_searchable_calculated_phone_number", "EQ", national),
		group("phone", "EQ", e164),
		group("mobilephone", "EQ", e164),
	}
}

// FindByPhone implements connectors.Connector: contacts by their phone
// fields; deals and leads through their association with those contacts.
// Every contact hit is re-checked with connectors.SamePhone, because
// HubSpot's search (and our wildcard) returns near-misses.
func (c *Client) FindByPhone(ctx context.Context, kind connectors.EntityKind, phone string) ([]connectors.Entity, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("hubspot: find %q: %w", kind, connectors.ErrUnsupported)
	}
	contacts, err := c.findContacts(ctx, phone)
	if err != nil {
		return nil, err
	}
	if kind == connectors.KindContact {
		return contacts, nil
	}
	if len(contacts) == 0 {
		return []connectors.Entity{}, nil
	}
	ids := make([]string, len(contacts))
	for i, ct := range contacts {
		ids[i] = ct.ID
	}
	path, props := dealsPath, dealProps
	if kind == connectors.KindLead {
		path, props = leadsPath, leadProps
	}
	objs, err := c.associated(ctx, path, ids, props)
	if err != nil {
		return nil, fmt.Errorf("hubspot: search %ss of contacts %v: %w", kind, ids, err)
	}
	out := make([]connectors.Entity, 0, len(objs))
	for _, o := range objs {
		out = append(out, entity(kind, o))
	}
	return out, nil
}

// findContacts returns the contacts holding phone, re-checked.
func (c *Client) findContacts(ctx context.Context, phone string) ([]connectors.Entity, error) {
	objs, err := c.search(ctx, contactsPath, phoneGroups(phone), contactProps)
	if err != nil {
		return nil, fmt.Errorf("hubspot: search contacts by phone: %w", err)
	}
	out := []connectors.Entity{}
	seen := map[string]bool{}
	for _, o := range objs {
		e := entity(connectors.KindContact, o)
		if seen[e.ID] || !connectors.AnyPhone(e.Phones, phone) {
			continue
		}
		seen[e.ID] = true
		out = append(out, e)
	}
	return out, nil
}

// associated searches path for objects associated with any of contactIDs,
// maxFilterGroups contacts per request.
func (c *Client) associated(ctx context.Context, path string, contactIDs []string, props []string) ([]object, error) {
	var out []object
	seen := map[string]bool{}
	for chunk := range slices.Chunk(contactIDs, maxFilterGroups) {
		groups := make([]filterGroup, len(chunk))
		for i, id := range chunk {
			groups[i] = group("associations.contact", "EQ", id)
		}
		objs, err := c.search(ctx, path, groups, props)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if !seen[o.ID] {
				seen[o.ID] = true
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// Closing stages of HubSpot's default pipelines. Portals with custom
// pipelines still get hs_is_closed on deals; a custom lead pipeline's
// closing stages have numeric ids we cannot know, so such leads read as open.
var (
	closedDealStages = []string{"closedwon", "closedlost"}
	closedLeadStages = []string{"qualified-stage-id", "unqualified-stage-id"}
)

// entity converts a search hit of kind.
func entity(kind connectors.EntityKind, o object) connectors.Entity {
	p := o.Properties
	e := connectors.Entity{
		Kind:              kind,
		ID:                o.ID,
		ResponsibleUserID: p["hubspot_owner_id"],
		UpdatedAt:         o.UpdatedAt,
	}
	switch kind {
	case connectors.KindContact:
		e.Title = strings.TrimSpace(p["firstname"] + " " + p["lastname"])
		if e.Title == "" {
			e.Title = p["email"]
		}
		for _, k := range []string{"phone", "mobilephone"} {
			if v := strings.TrimSpace(p[k]); v != "" {
				e.Phones = append(e.Phones, v)
			}
		}
	case connectors.KindDeal:
		e.Title = p["dealname"]
		closed, _ := strconv.ParseBool(p["hs_is_closed"])
		e.Closed = closed || slices.Contains(closedDealStages, p["dealstage"])
	case connectors.KindLead:
		e.Title = p["hs_lead_name"]
		e.Closed = slices.Contains(closedLeadStages, p["hs_pipeline_stage"])
	}
	return e
}

// CountOwned implements connectors.OwnedCounter: one search per kind for
// records whose hubspot_owner_id is userID, reading only the total.
func (c *Client) CountOwned(ctx context.Context, userID string) (map[connectors.EntityKind]int, error) {
	out := map[connectors.EntityKind]int{}
	for _, k := range []struct {
		kind connectors.EntityKind
		path string
	}{{connectors.KindLead, leadsPath}, {connectors.KindDeal, dealsPath}, {connectors.KindContact, contactsPath}} {
		req := searchRequest{
			FilterGroups: []filterGroup{group("hubspot_owner_id", "EQ", userID)},
			Properties:   []string{"hubspot_owner_id"},
			Sorts:        []string{},
			Limit:        1,
			After:        "0",
		}
		var page searchPage
		if err := c.do(ctx, "POST", k.path+"/search", req, &page); err != nil {
			return nil, fmt.Errorf("hubspot: count %ss of owner %s: %w", k.kind, userID, err)
		}
		out[k.kind] = page.Total
	}
	return out, nil
}
