package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Enqueuer puts crmsync's tasks on the queues; web and telephony use it
// through interfaces of their own. It is the only code outside handlers
// that builds tasks.
type Enqueuer struct {
	Client *asynq.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// EnqueueSync asks for an on-demand sync of a tenant's account and returns
// its task id. A sync of the account already requested this minute and not
// yet finished is the same task: its id is returned and nothing is added.
func (e *Enqueuer) EnqueueSync(ctx context.Context, tenantID, accountID int64) (string, error) {
	now := time.Now()
	if e.Now != nil {
		now = e.Now()
	}
	t, err := NewSyncUsersTask(SyncUsersPayload{TenantID: tenantID, AccountID: accountID}, now)
	if err != nil {
		return "", err
	}
	id := OnDemandSyncTaskID(accountID, now)
	if err := e.enqueue(ctx, t); err != nil {
		return "", fmt.Errorf("jobs: enqueue sync of account %d: %w", accountID, err)
	}
	return id, nil
}

// enqueue adds t; a task with the same id (or unique key) already there is
// success, since it does the same work.
func (e *Enqueuer) enqueue(ctx context.Context, t *asynq.Task, opts ...asynq.Option) error {
	_, err := e.Client.EnqueueContext(ctx, t, opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}
