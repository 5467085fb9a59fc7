// Package jobs holds crmsync's background work: the asynq task types, their
// handlers, the retry policy, the enqueuer other packages use, and the
// periodic scheduling of CRM user syncs.
//
// # Conventions
//
// Every task type is named "area:action" (TypeSyncUsers = "sync:users") and
// has a payload struct with snake_case JSON that carries ids, never state:
// the handler reloads what it needs, so a task enqueued an hour ago acts on
// today's data. Payload changes are additive only.
//
// Delivery is at least once, so every handler is safe to run twice, and
// every task has a deterministic asynq.TaskID derived from its natural key:
// enqueuing the same work twice is a no-op (Enqueuer treats
// asynq.ErrTaskIDConflict and asynq.ErrDuplicateTask as success). User syncs
// use
//
//	sync:users:<account id>:<slot start, unix seconds>   periodic, one per interval slot
//	sync:users:<account id>:now:<minute, unix seconds>   on demand, one per minute
//
// and periodic ones are kept (asynq.Retention) until their slot ends, so a
// second worker process enqueuing the same slot gets a conflict instead of
// a second run, even after the first run has finished.
//
// Queues are QueueCritical (call push-back), QueueDefault (syncs) and
// QueueLow (cache warm-ups); their weights are configuration, set in cmd.
// Never make a queue per tenant or account: asynq slows down sharply with
// many queues.
//
// # Errors and retries
//
// Handlers return errors; they never log them. The retry policy is in
// retry.go and is applied once, at the asynq boundary:
//
//   - permanent failures (connectors.ErrUnauthorized, connectors.ErrInvalid,
//     an unknown account, a bad payload) are wrapped with asynq.SkipRetry and
//     archived at once; ErrUnauthorized also marks the account needs_relink;
//   - a *connectors.RateLimitError is retried after its RetryAfter and, like
//     ErrBusy (another sync of the account is running), does not count as a
//     failure (IsFailure), so throttling never burns retries;
//   - everything else is retried with asynq's default backoff.
//
// ErrorHandler logs each failed attempt once, with the task's type and id.
//
// Handler's fields are interfaces defined here (Connections, SyncStore) and
// satisfied by connectors.Resolver and *store.DB; cmd wires them. There are
// no package-level clients or configuration.
package jobs
