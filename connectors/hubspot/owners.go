package hubspot

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/connectors"
)

// ownersPageSize is the largest page GET /crm/v3/owners serves.
const ownersPageSize = 500

// owner is PublicOwner, the part we read.
type owner struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Type      string `json:"type"`
	Archived  bool   `json:"archived"`
}

type ownersPage struct {
	Results []owner `json:"results"`
	Paging  *paging `json:"paging"`
}

// paging is ForwardPaging (and the forward half of Paging).
type paging struct {
	Next *struct {
		After string `json:"after"`
	} `json:"next"`
}

func (p *paging) after() string {
	if p == nil || p.Next == nil {
		return ""
	}
	return p.Next.After
}

// ListUsers implements connectors.Connector. It lists HubSpot owners, active
// ones and then archived ones (HubSpot's owners list leaves archived owners
// out unless asked, and a deactivated user must be seen to lose its link).
// User.ID is the owner id, the value records hold in hubspot_owner_id.
// Queue owners are left out: they are not people an employee can be.
func (c *Client) ListUsers(ctx context.Context) ([]connectors.User, error) {
	var users []connectors.User
	seen := map[string]bool{}
	for _, archived := range []bool{false, true} {
		after := ""
		for {
			q := url.Values{
				"limit":    {strconv.Itoa(ownersPageSize)},
				"archived": {strconv.FormatBool(archived)},
			}
			if after != "" {
				q.Set("after", after)
			}
			var page ownersPage
			if err := c.do(ctx, "GET", "/crm/v3/owners?"+q.Encode(), nil, &page); err != nil {
				return nil, fmt.Errorf("hubspot: list owners: %w", err)
			}
			for _, o := range page.Results {
				if o.Type == "QUEUE" || seen[o.ID] {
					continue
				}
				seen[o.ID] = true
				users = append(users, o.user())
			}
			next := page.Paging.after()
			if next == "" {
				break
			}
			if next == after {
				return nil, fmt.Errorf("hubspot: list owners: paging cursor %q repeats", next)
			}
			after = next
		}
	}
	return users, nil
}

func (o owner) user() connectors.User {
	name := strings.TrimSpace(o.FirstName + " " + o.LastName)
	if name == "" {
		name = o.Email
	}
	return connectors.User{ID: o.ID, Name: name, Email: o.Email, Active: !o.Archived}
}
