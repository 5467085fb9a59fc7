package amocrm

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/crmsync/crmsync/connectors"
)

// companyPrefix marks company ids among contact entities.
const companyPrefix = "company:"

// maxSearchPages bounds how many pages of full-text hits we read.
const maxSearchPages = 4

// Closed deal statuses, the same in every amo pipeline.
const (
	statusWon  = 142
	statusLost = 143
)

type fieldValue struct {
	Value    any    `json:"value"`
	EnumCode string `json:"enum_code,omitempty"`
}

type customField struct {
	FieldCode string       `json:"field_code,omitempty"`
	Values    []fieldValue `json:"values"`
}

// holderJSON is a contact or company: something that holds phones.
type holderJSON struct {
	ID                int64         `json:"id"`
	Name              string        `json:"name"`
	ResponsibleUserID int64         `json:"responsible_user_id"`
	UpdatedAt         int64         `json:"updated_at"`
	CustomFields      []customField `json:"custom_fields_values"`
	Embedded          struct {
		Leads []struct {
			ID int64 `json:"id"`
		} `json:"leads"`
	} `json:"_embedded"`
}

func (h holderJSON) phones() []string {
	var out []string
	for _, f := range h.CustomFields {
		if f.FieldCode != "PHONE" {
			continue
		}
		for _, v := range f.Values {
			if s, ok := v.Value.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

type leadJSON struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	ResponsibleUserID int64  `json:"responsible_user_id"`
	StatusID          int64  `json:"status_id"`
	UpdatedAt         int64  `json:"updated_at"`
}

type listPage struct {
	Links    links `json:"_links"`
	Embedded struct {
		Contacts  []holderJSON `json:"contacts"`
		Companies []holderJSON `json:"companies"`
		Leads     []leadJSON   `json:"leads"`
	} `json:"_embedded"`
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

func unix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// FindByPhone implements connectors.Connector. See the package comment for
// what each kind means; KindLead returns ErrUnsupported.
func (c *Client) FindByPhone(ctx context.Context, kind connectors.EntityKind, phone string) ([]connectors.Entity, error) {
	switch kind {
	case connectors.KindContact, connectors.KindDeal:
	default:
		return nil, fmt.Errorf("amocrm: find %s: %w", kind, connectors.ErrUnsupported)
	}
	contacts, companies, err := c.holders(ctx, phone, kind == connectors.KindDeal)
	if err != nil {
		return nil, fmt.Errorf("amocrm: find %s by phone: %w", kind, err)
	}
	out := []connectors.Entity{}
	if kind == connectors.KindContact {
		for _, h := range contacts {
			out = append(out, holderEntity(h, ""))
		}
		for _, h := range companies {
			out = append(out, holderEntity(h, companyPrefix))
		}
		return out, nil
	}
	phones := map[int64][]string{} // lead id → phones of the holder that matched
	var ids []int64
	for _, h := range slices.Concat(contacts, companies) {
		for _, l := range h.Embedded.Leads {
			if _, seen := phones[l.ID]; !seen {
				ids = append(ids, l.ID)
			}
			phones[l.ID] = append(phones[l.ID], h.phones()...)
		}
	}
	leads, err := c.leadsByID(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("amocrm: find deal by phone: %w", err)
	}
	for _, l := range leads {
		out = append(out, connectors.Entity{
			Kind:              connectors.KindDeal,
			ID:                id(l.ID),
			Title:             l.Name,
			ResponsibleUserID: userID(l.ResponsibleUserID),
			Phones:            phones[l.ID],
			Closed:            l.StatusID == statusWon || l.StatusID == statusLost,
			UpdatedAt:         unix(l.UpdatedAt),
		})
	}
	return out, nil
}

func userID(n int64) string {
	if n == 0 {
		return ""
	}
	return id(n)
}

func holderEntity(h holderJSON, prefix string) connectors.Entity {
	return connectors.Entity{
		Kind:              connectors.KindContact,
		ID:                prefix + id(h.ID),
		Title:             h.Name,
		ResponsibleUserID: userID(h.ResponsibleUserID),
		Phones:            h.phones(),
		UpdatedAt:         unix(h.UpdatedAt),
	}
}

// holders returns the contacts and companies whose PHONE field really
// holds phone, searching both at once.
func (c *Client) holders(ctx context.Context, phone string, withLeads bool) (contacts, companies []holderJSON, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		contacts, err = c.search(gctx, "contacts", phone, withLeads)
		return err
	})
	g.Go(func() (err error) {
		companies, err = c.search(gctx, "companies", phone, withLeads)
		return err
	})
	return contacts, companies, g.Wait()
}

// search runs amo's full-text search for phone's national digits over
// object and keeps the hits whose phones are phone.
func (c *Client) search(ctx context.Context, object, phone string, withLeads bool) ([]holderJSON, error) {
	q := url.Values{"query": {connectors.NationalDigits(phone)}, "limit": {strconv.Itoa(pageLimit)}}
	if withLeads {
		q.Set("with", "leads")
	}
	var out []holderJSON
	for page := 1; page <= maxSearchPages; page++ {
		q.Set("page", strconv.Itoa(page))
		var p listPage
		ok, err := c.do(ctx, "GET", "/api/v4/"+object, q, nil, &p)
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", object, err)
		}
		hits := p.Embedded.Contacts
		if object == "companies" {
			hits = p.Embedded.Companies
		}
		for _, h := range hits {
			if connectors.AnyPhone(h.phones(), phone) {
				out = append(out, h)
			}
		}
		if !ok || p.Links.Next == nil || len(hits) == 0 {
			break
		}
	}
	return out, nil
}

// leadsByID reads deals by id, 50 ids a request.
func (c *Client) leadsByID(ctx context.Context, ids []int64) ([]leadJSON, error) {
	var out []leadJSON
	for chunk := range slices.Chunk(ids, 50) {
		q := url.Values{"limit": {strconv.Itoa(pageLimit)}}
		for _, n := range chunk {
			q.Add("filter[id][]", id(n))
		}
		var p listPage
		if _, err := c.do(ctx, "GET", "/api/v4/leads", q, nil, &p); err != nil {
			return nil, fmt.Errorf("read leads: %w", err)
		}
		out = append(out, p.Embedded.Leads...)
	}
	return out, nil
}

// CountOwned implements connectors.OwnedCounter by paging through the
// deals, contacts and companies filtered by responsible user.
func (c *Client) CountOwned(ctx context.Context, userID string) (map[connectors.EntityKind]int, error) {
	out := map[connectors.EntityKind]int{}
	for _, obj := range []struct {
		path string
		kind connectors.EntityKind
	}{{"leads", connectors.KindDeal}, {"contacts", connectors.KindContact}, {"companies", connectors.KindContact}} {
		n, err := c.count(ctx, obj.path, userID)
		if err != nil {
			return nil, fmt.Errorf("amocrm: count %s of user %s: %w", obj.path, userID, err)
		}
		out[obj.kind] += n
	}
	return out, nil
}

func (c *Client) count(ctx context.Context, object, userID string) (int, error) {
	q := url.Values{"filter[responsible_user_id]": {userID}, "limit": {strconv.Itoa(pageLimit)}}
	n := 0
	for page := 1; page <= maxPages; page++ {
		q.Set("page", strconv.Itoa(page))
		var p listPage
		ok, err := c.do(ctx, "GET", "/api/v4/"+object, q, nil, &p)
		if err != nil {
			return 0, err
		}
		got := len(p.Embedded.Leads) + len(p.Embedded.Contacts) + len(p.Embedded.Companies)
		n += got
		if !ok || p.Links.Next == nil || got == 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("more than %d pages", maxPages)
}

// amoID parses one of our string ids (a user or an entity) into amo's.
func amoID(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, companyPrefix), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("id %q: %w", s, connectors.ErrInvalid)
	}
	return n, nil
}

// optID is amoID for optional ids: "" is 0.
func optID(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return amoID(s)
}
