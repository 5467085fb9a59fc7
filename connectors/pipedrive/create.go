package pipedrive

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/crmsync/crmsync/connectors"
)

// taskType is the activity type of tasks: one of Pipedrive's default
// types (call, meeting, task, deadline, email, lunch).
const taskType = "task"

// maxSubject bounds an activity subject; longer task text goes whole into
// the activity's note.
const maxSubject = 255

// activityJSON is addActivity's body (v2).
type activityJSON struct {
	Subject string `json:"subject"`
	Type    string `json:"type"`
	OwnerID int64  `json:"owner_id,omitempty"`
	DueDate string `json:"due_date,omitempty"` // YYYY-MM-DD, UTC
	DueTime string `json:"due_time,omitempty"` // HH:MM, UTC
	Note    string `json:"note,omitempty"`
	Done    bool   `json:"done"`
	target
}

// CreateTask implements connectors.TaskCreator: a "task" activity (POST
// /api/v2/activities) for the responsible user, on the task's record, due
// at t.Due (UTC; no due date when zero).
func (c *Client) CreateTask(ctx context.Context, t connectors.Task) (string, error) {
	owner, err := optID(t.ResponsibleUserID)
	if err != nil {
		return "", fmt.Errorf("pipedrive: create task: owner: %w", err)
	}
	on, err := entityTarget(t.Entity)
	if err != nil {
		return "", fmt.Errorf("pipedrive: create task: %w", err)
	}
	in := activityJSON{Subject: strings.TrimSpace(t.Text), Type: taskType, OwnerID: owner, target: on}
	if utf8.RuneCountInString(in.Subject) > maxSubject {
		in.Note = in.Subject
		in.Subject = string([]rune(in.Subject)[:maxSubject-1]) + "…"
	}
	if !t.Due.IsZero() {
		due := t.Due.UTC()
		in.DueDate, in.DueTime = due.Format("2006-01-02"), due.Format("15:04")
	}
	var ans envelope[struct {
		ID int64 `json:"id"`
	}]
	if err := c.do(ctx, "POST", "/api/v2/activities", in, &ans); err != nil {
		return "", fmt.Errorf("pipedrive: create task: %w", err)
	}
	if ans.Data.ID == 0 {
		return "", fmt.Errorf("pipedrive: create task: answer has no id")
	}
	return idString(ans.Data.ID), nil
}

type personPhone struct {
	Value   string `json:"value"`
	Primary bool   `json:"primary"`
	Label   string `json:"label"`
}

// CreateEntity implements connectors.EntityCreator. A contact is a new
// person with the number (POST /api/v2/persons); a lead or deal is a new
// person plus a lead (POST /v1/leads) or deal (POST /api/v2/deals, the
// default pipeline's first stage) linked to it, since Pipedrive keeps phone
// numbers on persons only. If the second write fails, the person stays.
func (c *Client) CreateEntity(ctx context.Context, e connectors.NewEntity) (connectors.Entity, error) {
	if _, ok := Kinds[e.Kind]; !ok {
		return connectors.Entity{}, fmt.Errorf("pipedrive: create %s: %w", e.Kind, connectors.ErrUnsupported)
	}
	owner, err := optID(e.ResponsibleUserID)
	if err != nil {
		return connectors.Entity{}, fmt.Errorf("pipedrive: create %s: owner: %w", e.Kind, err)
	}
	title := strings.TrimSpace(e.Title)
	if title == "" {
		title = e.Phone
	}
	out := connectors.Entity{Kind: e.Kind, Title: title, ResponsibleUserID: e.ResponsibleUserID}
	if e.Phone != "" {
		out.Phones = []string{e.Phone}
	}
	in := struct {
		Name    string        `json:"name"`
		OwnerID int64         `json:"owner_id,omitempty"`
		Phones  []personPhone `json:"phones,omitempty"`
	}{Name: title, OwnerID: owner}
	if e.Phone != "" {
		in.Phones = []personPhone{{Value: e.Phone, Primary: true, Label: "work"}}
	}
	var p envelope[struct {
		ID int64 `json:"id"`
	}]
	if err := c.do(ctx, "POST", "/api/v2/persons", in, &p); err != nil || p.Data.ID == 0 {
		return connectors.Entity{}, fmt.Errorf("pipedrive: create %s: add person: %w", e.Kind, orNoID(err))
	}
	switch e.Kind {
	case connectors.KindContact:
		out.ID = idString(p.Data.ID)
	case connectors.KindLead:
		var l envelope[struct {
			ID string `json:"id"`
		}]
		in := map[string]any{"title": title, "person_id": p.Data.ID}
		if owner != 0 {
			in["owner_id"] = owner
		}
		if err := c.do(ctx, "POST", "/v1/leads", in, &l); err != nil || l.Data.ID == "" {
			return connectors.Entity{}, fmt.Errorf("pipedrive: create lead for person %d: %w", p.Data.ID, orNoID(err))
		}
		out.ID = l.Data.ID
	case connectors.KindDeal:
		var d envelope[struct {
			ID int64 `json:"id"`
		}]
		in := map[string]any{"title": title, "person_id": p.Data.ID}
		if owner != 0 {
			in["owner_id"] = owner
		}
		if err := c.do(ctx, "POST", "/api/v2/deals", in, &d); err != nil || d.Data.ID == 0 {
			return connectors.Entity{}, fmt.Errorf("pipedrive: create deal for person %d: %w", p.Data.ID, orNoID(err))
		}
		out.ID = idString(d.Data.ID)
	}
	return out, nil
}

// orNoID is err, or the error of an answer without an id.
func orNoID(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("answer has no id")
}
