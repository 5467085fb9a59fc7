package pipedrive

import (
	"context"
	"fmt"
	"strconv"

	"github.com/crmsync/crmsync/connectors"
)

type userJSON struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	Email      string  `json:"email"`
	Phone      *string `json:"phone"`
	ActiveFlag bool    `json:"active_flag"`
	IsDeleted  bool    `json:"is_deleted"`
}

// ListUsers implements connectors.Connector: GET /v1/users, which returns
// every user of the company in one answer (no pagination). A user is
// active when active_flag is set and it is not deleted; its phone, when
// filled in, is returned as Pipedrive holds it.
func (c *Client) ListUsers(ctx context.Context) ([]connectors.User, error) {
	var ans envelope[[]userJSON]
	if err := c.get(ctx, "/v1/users", nil, &ans); err != nil {
		return nil, fmt.Errorf("pipedrive: list users: %w", err)
	}
	out := make([]connectors.User, 0, len(ans.Data))
	for _, u := range ans.Data {
		user := connectors.User{
			ID:     strconv.FormatInt(u.ID, 10),
			Name:   u.Name,
			Email:  u.Email,
			Active: u.ActiveFlag && !u.IsDeleted,
		}
		if u.Phone != nil && *u.Phone != "" {
			user.Phones = []string{*u.Phone}
		}
		out = append(out, user)
	}
	return out, nil
}
