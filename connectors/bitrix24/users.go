package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/connectors"
)

// maxUserPages stops a runaway listing (50 × 1000 = 50k users).
const maxUserPages = 1000

// userFields are the user.get fields we read.
var userFields = []string{"ID", "ACTIVE", "NAME", "LAST_NAME", "EMAIL",
	"UF_PHONE_INNER", "WORK_PHONE", "PERSONAL_MOBILE", "PERSONAL_PHONE"}

type userJSON struct {
	ID             flexString `json:"ID"`
	Active         flexBool   `json:"ACTIVE"`
	Name           string     `json:"NAME"`
	LastName       string     `json:"LAST_NAME"`
	Email          string     `json:"EMAIL"`
	PhoneInner     flexString `json:"UF_PHONE_INNER"` // the PBX extension
	WorkPhone      string     `json:"WORK_PHONE"`
	PersonalMobile string     `json:"PERSONAL_MOBILE"`
	PersonalPhone  string     `json:"PERSONAL_PHONE"`
}

func (u userJSON) user() connectors.User {
	out := connectors.User{
		ID:     string(u.ID),
		Name:   strings.TrimSpace(u.Name + " " + u.LastName),
		Email:  u.Email,
		Active: bool(u.Active),
	}
	for _, p := range []string{string(u.PhoneInner), u.WorkPhone, u.PersonalMobile, u.PersonalPhone} {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out.Phones, p) {
			out.Phones = append(out.Phones, p)
		}
	}
	return out
}

func userParams(start int) url.Values {
	return url.Values{"select[]": userFields, "start": {strconv.Itoa(start)}}
}

// ListUsers implements connectors.Connector: user.get, which returns
// active and dismissed users 50 a page. The first page says how many there
// are; the other pages are read up to 50 in one batch. Phones are the
// extension (UF_PHONE_INNER) first, then the work, mobile and personal
// numbers.
func (c *Client) ListUsers(ctx context.Context) ([]connectors.User, error) {
	var first []userJSON
	pg, err := c.call(ctx, "user.get", userParams(0), &first)
	if err != nil {
		return nil, fmt.Errorf("bitrix24: list users: %w", err)
	}
	seen := map[string]bool{} // pages can shift while we read
	var out []connectors.User
	add := func(us []userJSON) {
		for _, u := range us {
			if !seen[string(u.ID)] {
				seen[string(u.ID)] = true
				out = append(out, u.user())
			}
		}
	}
	add(first)
	if pg.Total/pageSize > maxUserPages {
		return nil, fmt.Errorf("bitrix24: list users: %d users, more than %d pages", pg.Total, maxUserPages)
	}
	var cmds []command
	for start := pg.Next; start > 0 && start < pg.Total; start += pageSize {
		cmds = append(cmds, command{key: "u" + strconv.Itoa(start), method: "user.get", params: userParams(start)})
	}
	for chunk := range slices.Chunk(cmds, maxBatch) {
		ans, err := c.batch(ctx, chunk)
		if err != nil {
			return nil, fmt.Errorf("bitrix24: list users: %w", err)
		}
		for _, cmd := range chunk {
			var us []userJSON
			if err := ans.decode(cmd.key, &us); err != nil {
				return nil, fmt.Errorf("bitrix24: list users from %s: %w", cmd.params.Get("start"), err)
			}
			add(us)
		}
	}
	return out, nil
}

// flexString is a JSON string, number or null: Bitrix24 writes ids both
// ways.
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"' && bytes.IndexByte(b, '\\') < 0:
		*s = flexString(b[1 : len(b)-1]) // no escapes: the bytes are the string
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == '{' || b[0] == '[':
		return fmt.Errorf("bitrix24: want a string or number, got %.20s", b)
	default:
		*s = flexString(b)
	}
	return nil
}

// flexBool is a JSON boolean, or Bitrix24's "Y"/"N" and 1/0.
type flexBool bool

// UnmarshalJSON implements json.Unmarshaler.
func (v *flexBool) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	switch strings.ToUpper(string(s)) {
	case "TRUE", "Y", "1":
		*v = true
	default:
		*v = false
	}
	return nil
}
