package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/connectors"
)

// Queues. Weights are set in cmd from configuration.
const (
	QueueCritical = "critical" // call push-back: what a person is waiting to see in the CRM
	QueueDefault  = "default"  // CRM user syncs
	QueueLow      = "low"      // cache warm-ups and backfills
)

// Connections turns an account id into a live connector;
// *connectors.Resolver implements it.
type Connections interface {
	// ConnectorFor returns the connector of account id. It returns an error
	// wrapping connectors.ErrUnauthorized when the account needs relinking.
	ConnectorFor(ctx context.Context, accountID int64) (connectors.Connector, error)
}

// Handler processes crmsync's tasks. Set the fields, then Register it.
type Handler struct {
	Connections Connections
	Syncs       SyncStore
	// Calls delivers call events to CRMs (push-back); nil serves none.
	Calls *CallsHandler
	// Metrics records sync outcomes; nil records nothing.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Register routes every task type to its handler method. It is the one list
// of task types a worker serves.
func Register(mux *asynq.ServeMux, h *Handler) {
	mux.HandleFunc(TypeSyncUsers, h.ProcessSyncUsers)
	if h.Calls != nil {
		RegisterCalls(mux, h.Calls)
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// ErrorHandler returns the server's asynq.ErrorHandler: the one place a
// failed task is logged, once per attempt. Deferred attempts (rate limits,
// a busy account) are logged at Info, attempts that will be retried at
// Warn, and attempts that end the task (SkipRetry, retries exhausted) at
// Error.
func ErrorHandler(logger *slog.Logger) asynq.ErrorHandler {
	if logger == nil {
		logger = slog.Default()
	}
	return asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
		id, _ := asynq.GetTaskID(ctx)
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		attrs := []any{"task_type", t.Type(), "task_id", id, "retried", retried, "max_retry", maxRetry, "err", err}
		switch {
		case !IsFailure(err):
			logger.InfoContext(ctx, "task deferred", attrs...)
		case errors.Is(err, asynq.SkipRetry) || retried >= maxRetry:
			logger.ErrorContext(ctx, "task failed for good", attrs...)
		default:
			logger.WarnContext(ctx, "task failed, will retry", attrs...)
		}
	})
}
