package amocrm

import (
	"context"
	"fmt"

	"github.com/crmsync/crmsync/connectors"
)

// taskTypeCall is amo's built-in task type "Связаться" (follow up).
const taskTypeCall = 1

type taskJSON struct {
	Text              string `json:"text"`
	CompleteTill      int64  `json:"complete_till"`
	EntityID          int64  `json:"entity_id,omitempty"`
	EntityType        string `json:"entity_type,omitempty"`
	ResponsibleUserID int64  `json:"responsible_user_id,omitempty"`
	TaskTypeID        int    `json:"task_type_id"`
	RequestID         string `json:"request_id"`
}

// CreateTask implements connectors.TaskCreator: POST /api/v4/tasks.
func (c *Client) CreateTask(ctx context.Context, t connectors.Task) (string, error) {
	responsible, err := optID(t.ResponsibleUserID)
	if err != nil {
		return "", fmt.Errorf("amocrm: create task: responsible: %w", err)
	}
	task := taskJSON{Text: t.Text, CompleteTill: t.Due.Unix(), ResponsibleUserID: responsible,
		TaskTypeID: taskTypeCall, RequestID: "0"}
	if t.Entity != nil {
		if task.EntityType, err = entityType(*t.Entity); err != nil {
			return "", fmt.Errorf("amocrm: create task: %w", err)
		}
		if task.EntityID, err = amoID(t.Entity.ID); err != nil {
			return "", fmt.Errorf("amocrm: create task: entity: %w", err)
		}
	}
	var ans writeAnswer
	if _, err := c.do(ctx, "POST", "/api/v4/tasks", nil, []taskJSON{task}, &ans); err != nil {
		return "", fmt.Errorf("amocrm: create task: %w", err)
	}
	if len(ans.Embedded.Tasks) != 1 {
		return "", fmt.Errorf("amocrm: create task: %d tasks in the answer, want 1", len(ans.Embedded.Tasks))
	}
	return id(ans.Embedded.Tasks[0].ID), nil
}
