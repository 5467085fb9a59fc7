package bitrix24

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// maxTaskTitle bounds a to-do's title, cut from the task's first line.
const maxTaskTitle = 100

// CreateTask implements connectors.TaskCreator with crm.activity.todo.add:
// a to-do on the task's CRM record (lead, deal, contact or company) for its
// responsible user, due at t.Due (in an hour when unset). Bitrix24 to-dos
// belong to a record, so a task without an entity is ErrUnsupported.
func (c *Client) CreateTask(ctx context.Context, t connectors.Task) (string, error) {
	if t.Entity == nil {
		return "", fmt.Errorf("bitrix24: create task: a to-do needs a CRM record: %w", connectors.ErrUnsupported)
	}
	typ, id, err := entityType(*t.Entity)
	if err != nil {
		return "", fmt.Errorf("bitrix24: create task: entity: %w", err)
	}
	due := t.Due
	if due.IsZero() {
		due = time.Now().Add(time.Hour)
	}
	title, _, _ := strings.Cut(strings.TrimSpace(t.Text), "\n")
	if r := []rune(title); len(r) > maxTaskTitle {
		title = string(r[:maxTaskTitle-1]) + "…"
	}
	p := url.Values{
		"ownerTypeId": {ownerTypeIDs[typ]}, "ownerId": {id}, "deadline": {due.Format(time.RFC3339)},
		"title": {title}, "description": {t.Text},
	}
	if t.ResponsibleUserID != "" {
		user, err := bitrixID(t.ResponsibleUserID)
		if err != nil {
			return "", fmt.Errorf("bitrix24: create task: responsible: %w", err)
		}
		p.Set("responsibleId", user)
	}
	var ans struct {
		ID flexString `json:"id"`
	}
	if _, err := c.call(ctx, "crm.activity.todo.add", p, &ans); err != nil {
		return "", fmt.Errorf("bitrix24: create task: %w", err)
	}
	if ans.ID == "" {
		return "", fmt.Errorf("bitrix24: create task: no id in the answer")
	}
	return string(ans.ID), nil
}
