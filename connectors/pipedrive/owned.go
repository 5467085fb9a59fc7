package pipedrive

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/crmsync/crmsync/connectors"
)

// CountOwned implements connectors.OwnedCounter: the persons (GET
// /api/v2/persons?owner_id=), deals that are not deleted (GET
// /api/v2/deals?owner_id=) and leads, open and archived (GET
// /v1/leads{,/archived}?owner_id=), userID owns. It pages through them, so
// it costs tokens in proportion to what the user owns: run it for
// deactivated users' reports only.
func (c *Client) CountOwned(ctx context.Context, userID string) (map[connectors.EntityKind]int, error) {
	owner, err := pdID(userID)
	if err != nil {
		return nil, fmt.Errorf("pipedrive: count owned: %w", err)
	}
	out := map[connectors.EntityKind]int{}
	for kind, path := range map[connectors.EntityKind]string{
		connectors.KindContact: "/api/v2/persons",
		connectors.KindDeal:    "/api/v2/deals",
	} {
		n, err := c.countV2(ctx, path, owner)
		if err != nil {
			return nil, fmt.Errorf("pipedrive: count %ss of user %d: %w", kind, owner, err)
		}
		out[kind] = n
	}
	for _, path := range []string{"/v1/leads", "/v1/leads/archived"} {
		leads, err := c.listLeads(ctx, path, url.Values{"owner_id": {idString(owner)}})
		if err != nil {
			return nil, fmt.Errorf("pipedrive: count leads of user %d: %w", owner, err)
		}
		out[connectors.KindLead] += len(leads)
	}
	return out, nil
}

// countV2 counts a v2 list filtered by owner_id, page by page.
func (c *Client) countV2(ctx context.Context, path string, owner int64) (int, error) {
	q := url.Values{"owner_id": {idString(owner)}, "limit": {strconv.Itoa(listLimit)}}
	n := 0
	for range maxPages * 10 {
		var ans envelope[[]json.RawMessage]
		if err := c.get(ctx, path, q, &ans); err != nil {
			return 0, err
		}
		n += len(ans.Data)
		next := ans.AdditionalData.next()
		if next == "" {
			return n, nil
		}
		q.Set("cursor", next)
	}
	return 0, fmt.Errorf("%s: more than %d pages", path, maxPages*10)
}
