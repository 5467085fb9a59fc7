package amocrm

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/crmsync/crmsync/connectors"
)

// pageLimit is amo's largest page.
const pageLimit = 250

// maxPages stops a runaway pagination (250 × 400 = 100k records).
const maxPages = 400

type userJSON struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Email  string `json:"email"`
	Rights struct {
		IsActive bool `json:"is_active"`
	} `json:"rights"`
}

type usersPage struct {
	Links    links `json:"_links"`
	Embedded struct {
		Users []userJSON `json:"users"`
	} `json:"_embedded"`
}

// ListUsers implements connectors.Connector: GET /api/v4/users, page by
// page. amo users have no phone field.
func (c *Client) ListUsers(ctx context.Context) ([]connectors.User, error) {
	var out []connectors.User
	for page := 1; page <= maxPages; page++ {
		q := url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(pageLimit)}}
		var p usersPage
		ok, err := c.do(ctx, "GET", "/api/v4/users", q, nil, &p)
		if err != nil {
			return nil, fmt.Errorf("amocrm: list users: page %d: %w", page, err)
		}
		for _, u := range p.Embedded.Users {
			out = append(out, connectors.User{
				ID:     strconv.FormatInt(u.ID, 10),
				Name:   u.Name,
				Email:  u.Email,
				Active: u.Rights.IsActive,
			})
		}
		if !ok || p.Links.Next == nil || len(p.Embedded.Users) == 0 {
			return out, nil
		}
	}
	return nil, fmt.Errorf("amocrm: list users: more than %d pages", maxPages)
}
