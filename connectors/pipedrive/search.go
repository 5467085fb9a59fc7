package pipedrive

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/crmsync/crmsync/connectors"
)

const (
	// searchLimit is the page size of a person search: phone searches
	// rarely find more, and each page costs 20 tokens whatever its size.
	searchLimit = 100
	// listLimit is the largest page v2 lists and v1 leads allow.
	listLimit = 500
	// maxPages stops a runaway pagination.
	maxPages = 20
	// fanout bounds the concurrent per-person requests of one lookup.
	fanout = 4
)

// person is a search hit that holds the number.
type person struct {
	ID     int64
	Name   string
	Phones []string
	Owner  int64
}

type searchItem struct {
	Item struct {
		ID     int64    `json:"id"`
		Name   string   `json:"name"`
		Phones []string `json:"phones"`
		Owner  *struct {
			ID int64 `json:"id"`
		} `json:"owner"`
	} `json:"item"`
}

type dealJSON struct {
	ID         int64  `json:"id"`
	Title      string `json:"title"`
	OwnerID    int64  `json:"owner_id"`
	PersonID   int64  `json:"person_id"`
	Status     string `json:"status"`
	UpdateTime string `json:"update_time"`
}

type leadJSON struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	OwnerID    int64  `json:"owner_id"`
	PersonID   *int64 `json:"person_id"`
	IsArchived bool   `json:"is_archived"`
	UpdateTime string `json:"update_time"`
}

// FindByPhone implements connectors.Connector; see the package comment
// for how kinds map. Deals and leads are those of every person holding the
// number, fetched a few persons at a time.
func (c *Client) FindByPhone(ctx context.Context, kind connectors.EntityKind, phone string) ([]connectors.Entity, error) {
	if _, ok := Kinds[kind]; !ok {
		return nil, fmt.Errorf("pipedrive: find %s by phone: %w", kind, connectors.ErrUnsupported)
	}
	persons, err := c.findPersons(ctx, phone)
	if err != nil {
		return nil, fmt.Errorf("pipedrive: find %s by phone: %w", kind, err)
	}
	out := []connectors.Entity{}
	switch kind {
	case connectors.KindContact:
		for _, p := range persons {
			out = append(out, connectors.Entity{Kind: kind, ID: idString(p.ID), Title: p.Name,
				ResponsibleUserID: idString(p.Owner), Phones: p.Phones})
		}
		return out, nil
	case connectors.KindDeal:
		out, err = eachPerson(ctx, persons, c.personDeals)
	default:
		out, err = eachPerson(ctx, persons, c.personLeads)
	}
	if err != nil {
		return nil, fmt.Errorf("pipedrive: find %s by phone: %w", kind, err)
	}
	return out, nil
}

// findPersons searches persons' phones for phone's national digits and
// keeps those whose phones really hold phone.
func (c *Client) findPersons(ctx context.Context, phone string) ([]person, error) {
	term := connectors.NationalDigits(phone)
	if len(term) < 2 { // Pipedrive's minimum without exact_match
		return nil, nil
	}
	q := url.Values{
		"term":        {term},
		"fields":      {"phone"},
		"exact_match": {"false"},
		"limit":       {strconv.Itoa(searchLimit)},
	}
	var out []person
	for range maxPages {
		var ans envelope[struct {
			Items []searchItem `json:"items"`
		}]
		if err := c.get(ctx, "/api/v2/persons/search", q, &ans); err != nil {
			return nil, fmt.Errorf("search persons: %w", err)
		}
		for _, it := range ans.Data.Items {
			p := it.Item
			if !connectors.AnyPhone(p.Phones, phone) || slices.ContainsFunc(out, func(o person) bool { return o.ID == p.ID }) {
				continue
			}
			hit := person{ID: p.ID, Name: p.Name, Phones: p.Phones}
			if p.Owner != nil {
				hit.Owner = p.Owner.ID
			}
			out = append(out, hit)
		}
		next := ans.AdditionalData.next()
		if next == "" {
			return out, nil
		}
		q.Set("cursor", next)
	}
	return nil, fmt.Errorf("search persons: more than %d pages", maxPages)
}

// eachPerson runs fn for every person, fanout at a time, and concatenates
// the results in the persons' order.
func eachPerson(ctx context.Context, persons []person, fn func(context.Context, person) ([]connectors.Entity, error)) ([]connectors.Entity, error) {
	res := make([][]connectors.Entity, len(persons))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanout)
	for i, p := range persons {
		g.Go(func() error {
			var err error
			res[i], err = fn(gctx, p)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.Concat(res...), nil
}

// personDeals lists the person's deals that are not deleted (GET
// /api/v2/deals?person_id=, no status: open, won and lost).
func (c *Client) personDeals(ctx context.Context, p person) ([]connectors.Entity, error) {
	q := url.Values{"person_id": {idString(p.ID)}, "limit": {strconv.Itoa(listLimit)}}
	var out []connectors.Entity
	for range maxPages {
		var ans envelope[[]dealJSON]
		if err := c.get(ctx, "/api/v2/deals", q, &ans); err != nil {
			return nil, fmt.Errorf("deals of person %d: %w", p.ID, err)
		}
		for _, d := range ans.Data {
			out = append(out, connectors.Entity{
				Kind: connectors.KindDeal, ID: idString(d.ID), Title: d.Title,
				ResponsibleUserID: idString(d.OwnerID), Phones: p.Phones,
				Closed: d.Status == "won" || d.Status == "lost", UpdatedAt: parseTime(d.UpdateTime),
			})
		}
		next := ans.AdditionalData.next()
		if next == "" {
			return out, nil
		}
		q.Set("cursor", next)
	}
	return nil, fmt.Errorf("deals of person %d: more than %d pages", p.ID, maxPages)
}

// personLeads lists the person's leads, open (/v1/leads) and archived
// (/v1/leads/archived), which are closed.
func (c *Client) personLeads(ctx context.Context, p person) ([]connectors.Entity, error) {
	var out []connectors.Entity
	for _, path := range []string{"/v1/leads", "/v1/leads/archived"} {
		leads, err := c.listLeads(ctx, path, url.Values{"person_id": {idString(p.ID)}})
		if err != nil {
			return nil, fmt.Errorf("leads of person %d: %w", p.ID, err)
		}
		for _, l := range leads {
			out = append(out, connectors.Entity{
				Kind: connectors.KindLead, ID: l.ID, Title: l.Title,
				ResponsibleUserID: idString(l.OwnerID), Phones: p.Phones,
				Closed: l.IsArchived || path == "/v1/leads/archived", UpdatedAt: parseTime(l.UpdateTime),
			})
		}
	}
	return out, nil
}

// listLeads pages through a v1 leads list (start/limit).
func (c *Client) listLeads(ctx context.Context, path string, q url.Values) ([]leadJSON, error) {
	q.Set("limit", strconv.Itoa(listLimit))
	var out []leadJSON
	for start := 0; start < maxPages*listLimit; {
		q.Set("start", strconv.Itoa(start))
		var ans envelope[[]leadJSON]
		if err := c.get(ctx, path, q, &ans); err != nil {
			return nil, err
		}
		out = append(out, ans.Data...)
		if !ans.AdditionalData.more() || len(ans.Data) == 0 {
			return out, nil
		}
		start += len(ans.Data)
	}
	return nil, fmt.Errorf("%s: more than %d pages", path, maxPages)
}

// parseTime reads Pipedrive's timestamps: RFC 3339 (v2, leads) or
// "YYYY-MM-DD HH:MM:SS" in UTC (older v1 fields); zero when neither.
func parseTime(s string) time.Time {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	if t, err := time.Parse(time.DateTime, s); err == nil {
		return t
	}
	return time.Time{}
}
