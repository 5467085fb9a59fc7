package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Periodic sync defaults.
const (
	DefaultSyncInterval = 15 * time.Minute
	MinSyncInterval     = time.Minute
	// DefaultRefresh is how often the periodic task manager re-reads the
	// accounts (new links, changed intervals, the next slot's task id).
	DefaultRefresh = 30 * time.Second
	maxFirePeriod  = time.Minute
)

// SyncSchedule is one account's periodic user sync.
type SyncSchedule struct {
	TenantID  int64
	AccountID int64
	Interval  time.Duration // 0: the provider's DefaultInterval
}

// PeriodicSyncs is the asynq.PeriodicTaskConfigProvider of periodic user
// syncs, one entry per connected account.
//
// Time is cut into slots of each account's interval, counted from the Unix
// epoch, and every slot's sync has its own task id (PeriodicSyncTaskID).
// An entry fires every interval/10 (1 s to 1 min) and enqueues the sync of
// the slot current when the configs were last read: the first firing in a
// slot enqueues it, the rest (and every firing of every other worker
// process's manager, which computes the same id) get
// asynq.ErrTaskIDConflict, since the task is retained for an interval after
// it finishes. When a slot ends, the next refresh changes the entry's
// task id and so its config hash, and the manager re-registers it. A sync
// therefore starts within Refresh plus a firing period of its slot's start,
// exactly once per slot however many workers run a manager, and nothing
// depends on clocks firing at the same instant.
type PeriodicSyncs struct {
	// Accounts lists the accounts to sync periodically: linked and
	// connected ones.
	Accounts func(ctx context.Context) ([]SyncSchedule, error)
	// DefaultInterval applies to accounts with none of their own; 0 means
	// DefaultSyncInterval.
	DefaultInterval time.Duration
	// MinInterval is the shortest interval honoured; 0 means
	// MinSyncInterval. Tests lower it.
	MinInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// GetConfigs implements asynq.PeriodicTaskConfigProvider.
func (p *PeriodicSyncs) GetConfigs() ([]*asynq.PeriodicTaskConfig, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	list, err := p.Accounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: list accounts to sync: %w", err)
	}
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	configs := make([]*asynq.PeriodicTaskConfig, 0, len(list))
	for _, s := range list {
		c, err := p.config(s, now)
		if err != nil {
			return nil, err
		}
		configs = append(configs, c)
	}
	return configs, nil
}

// config returns the periodic task config of one account at now.
func (p *PeriodicSyncs) config(s SyncSchedule, now time.Time) (*asynq.PeriodicTaskConfig, error) {
	iv := p.interval(s.Interval)
	t, err := newSyncTask(SyncUsersPayload{TenantID: s.TenantID, AccountID: s.AccountID})
	if err != nil {
		return nil, err
	}
	return &asynq.PeriodicTaskConfig{
		Cronspec: "@every " + FirePeriod(iv).String(),
		Task:     t,
		Opts: []asynq.Option{
			asynq.TaskID(PeriodicSyncTaskID(s.AccountID, Slot(now, iv))),
			asynq.Retention(iv), // keeps the id taken for the rest of the slot
		},
	}, nil
}

// interval returns the interval used for an account that asks for d.
func (p *PeriodicSyncs) interval(d time.Duration) time.Duration {
	if d <= 0 {
		d = p.DefaultInterval
	}
	if d <= 0 {
		d = DefaultSyncInterval
	}
	lo := p.MinInterval
	if lo <= 0 {
		lo = MinSyncInterval
	}
	return max(d, lo).Round(time.Second)
}

// Slot returns the start of the slot of length interval (whole seconds)
// that holds t. Slots are counted from the Unix epoch, so every process
// agrees on them.
func Slot(t time.Time, interval time.Duration) time.Time {
	secs := max(int64(interval/time.Second), 1)
	u := t.Unix()
	return time.Unix(u-((u%secs)+secs)%secs, 0).UTC()
}

// FirePeriod is how often the entry of a sync every interval fires: a
// tenth of it, between 1 s and 1 min, in whole seconds.
func FirePeriod(interval time.Duration) time.Duration {
	return min(max(interval/10, time.Second), maxFirePeriod).Truncate(time.Second)
}

// NewPeriodicTaskManager returns the manager that keeps the scheduler's
// entries in step with p, re-reading it every refresh (0: DefaultRefresh).
// Run one in every worker process; see PeriodicSyncs for why that is safe.
// Conflicting enqueues are expected and not logged.
func NewPeriodicTaskManager(redis asynq.RedisConnOpt, p *PeriodicSyncs, refresh time.Duration, logger asynq.Logger) (*asynq.PeriodicTaskManager, error) {
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	opts := &asynq.SchedulerOpts{
		Logger:   logger,
		LogLevel: asynq.WarnLevel, // not a line per entry per slot
		Location: time.UTC,
	}
	if logger != nil {
		opts.PostEnqueueFunc = func(info *asynq.TaskInfo, err error) {
			if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
				logger.Warn("periodic sync: enqueue: ", err)
			}
		}
	}
	return asynq.NewPeriodicTaskManager(asynq.PeriodicTaskManagerOpts{
		PeriodicTaskConfigProvider: p,
		RedisConnOpt:               redis,
		SyncInterval:               refresh,
		SchedulerOpts:              opts,
	})
}
