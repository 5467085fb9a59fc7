package amocrm

import (
	"context"
	"fmt"

	"github.com/crmsync/crmsync/connectors"
)

// newHolderJSON is a contact to create.
type newHolderJSON struct {
	Name              string        `json:"name"`
	ResponsibleUserID int64         `json:"responsible_user_id,omitempty"`
	CustomFields      []customField `json:"custom_fields_values,omitempty"`
	RequestID         string        `json:"request_id,omitempty"`
}

// complexLeadJSON is a deal created together with its contact.
type complexLeadJSON struct {
	Name              string `json:"name"`
	ResponsibleUserID int64  `json:"responsible_user_id,omitempty"`
	Embedded          struct {
		Contacts []newHolderJSON `json:"contacts"`
	} `json:"_embedded"`
}

type complexAnswer struct {
	ID        int64 `json:"id"`
	ContactID int64 `json:"contact_id"`
}

type createdAnswer struct {
	Embedded struct {
		Contacts []struct {
			ID int64 `json:"id"`
		} `json:"contacts"`
	} `json:"_embedded"`
}

// CreateEntity implements connectors.EntityCreator: a contact through
// POST /api/v4/contacts, a deal (with a new contact holding the phone)
// through POST /api/v4/leads/complex. KindLead returns ErrUnsupported.
func (c *Client) CreateEntity(ctx context.Context, e connectors.NewEntity) (connectors.Entity, error) {
	responsible, err := optID(e.ResponsibleUserID)
	if err != nil {
		return connectors.Entity{}, fmt.Errorf("amocrm: create %s: responsible: %w", e.Kind, err)
	}
	contact := newHolderJSON{Name: e.Title, ResponsibleUserID: responsible}
	if e.Phone != "" {
		contact.CustomFields = []customField{{FieldCode: "PHONE",
			Values: []fieldValue{{Value: e.Phone, EnumCode: "WORK"}}}}
	}
	out := connectors.Entity{Kind: e.Kind, Title: e.Title, ResponsibleUserID: e.ResponsibleUserID}
	if e.Phone != "" {
		out.Phones = []string{e.Phone}
	}
	switch e.Kind {
	case connectors.KindContact:
		contact.RequestID = "0"
		var ans createdAnswer
		if _, err := c.do(ctx, "POST", "/api/v4/contacts", nil, []newHolderJSON{contact}, &ans); err != nil {
			return connectors.Entity{}, fmt.Errorf("amocrm: create contact: %w", err)
		}
		if len(ans.Embedded.Contacts) != 1 {
			return connectors.Entity{}, fmt.Errorf("amocrm: create contact: %d contacts in the answer", len(ans.Embedded.Contacts))
		}
		out.ID = id(ans.Embedded.Contacts[0].ID)
	case connectors.KindDeal:
		lead := complexLeadJSON{Name: e.Title, ResponsibleUserID: responsible}
		lead.Embedded.Contacts = []newHolderJSON{contact}
		var ans []complexAnswer
		if _, err := c.do(ctx, "POST", "/api/v4/leads/complex", nil, []complexLeadJSON{lead}, &ans); err != nil {
			return connectors.Entity{}, fmt.Errorf("amocrm: create deal: %w", err)
		}
		if len(ans) != 1 {
			return connectors.Entity{}, fmt.Errorf("amocrm: create deal: %d deals in the answer", len(ans))
		}
		out.ID = id(ans[0].ID)
	default:
		return connectors.Entity{}, fmt.Errorf("amocrm: create %s: %w", e.Kind, connectors.ErrUnsupported)
	}
	return out, nil
}
