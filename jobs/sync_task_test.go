package jobs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/jobs"
)

func TestNewSyncUsersTask(t *testing.T) {
	at := time.Date(2025, 3, 1, 10, 15, 42, 0, time.UTC)
	p := jobs.SyncUsersPayload{TenantID: 3, AccountID: 7}
	task, err := jobs.NewSyncUsersTask(p, at)
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != "sync:users" {
		t.Errorf("type = %q", task.Type())
	}
	if string(task.Payload()) != `{"tenant_id":3,"account_id":7}` {
		t.Errorf("payload = %s", task.Payload())
	}
	var back jobs.SyncUsersPayload
	if err := json.Unmarshal(task.Payload(), &back); err != nil || back != p {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	if _, err := jobs.NewSyncUsersTask(jobs.SyncUsersPayload{AccountID: 7}, at); err == nil {
		t.Error("a payload without tenant was accepted")
	}
}

func TestTaskIDs(t *testing.T) {
	at := time.Date(2025, 3, 1, 10, 15, 42, 0, time.UTC)
	for _, tt := range []struct{ name, got, want string }{
		{"OnDemand", jobs.OnDemandSyncTaskID(7, at), "sync:users:7:now:1740824100"},
		{"OnDemandSameMinute", jobs.OnDemandSyncTaskID(7, at.Add(17*time.Second)), "sync:users:7:now:1740824100"},
		{"OnDemandNextMinute", jobs.OnDemandSyncTaskID(7, at.Add(18*time.Second)), "sync:users:7:now:1740824160"},
		{"Periodic", jobs.PeriodicSyncTaskID(7, jobs.Slot(at, 15*time.Minute)), "sync:users:7:1740824100"},
		{"PeriodicSameSlot", jobs.PeriodicSyncTaskID(7, jobs.Slot(at.Add(14*time.Minute), 15*time.Minute)), "sync:users:7:1740824100"},
		{"PeriodicNextSlot", jobs.PeriodicSyncTaskID(7, jobs.Slot(at.Add(15*time.Minute), 15*time.Minute)), "sync:users:7:1740825000"},
		{"PeriodicOddInterval", jobs.PeriodicSyncTaskID(7, jobs.Slot(at, 7*time.Minute)), "sync:users:7:1740823980"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: id = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestFirePeriod(t *testing.T) {
	for iv, want := range map[time.Duration]time.Duration{
		3 * time.Second:  time.Second,
		90 * time.Second: 9 * time.Second,
		15 * time.Minute: time.Minute,
		24 * time.Hour:   time.Minute,
	} {
		if got := jobs.FirePeriod(iv); got != want {
			t.Errorf("FirePeriod(%s) = %s, want %s", iv, got, want)
		}
	}
}

func TestPeriodicSyncs_GetConfigs(t *testing.T) {
	now := time.Date(2025, 3, 1, 10, 15, 42, 0, time.UTC)
	p := &jobs.PeriodicSyncs{
		Accounts: func(context.Context) ([]jobs.SyncSchedule, error) {
			return []jobs.SyncSchedule{
				{TenantID: 1, AccountID: 7},                            // default interval
				{TenantID: 2, AccountID: 8, Interval: time.Hour},       // its own
				{TenantID: 2, AccountID: 9, Interval: 5 * time.Second}, // below the minimum
			}, nil
		},
		DefaultInterval: 15 * time.Minute,
		Now:             func() time.Time { return now },
	}
	type entry struct {
		Spec, Payload string
		Opts          []string
	}
	read := func() []entry {
		t.Helper()
		cs, err := p.GetConfigs()
		if err != nil {
			t.Fatal(err)
		}
		var out []entry
		for _, c := range cs {
			e := entry{Spec: c.Cronspec, Payload: string(c.Task.Payload())}
			for _, o := range c.Opts {
				e.Opts = append(e.Opts, o.String())
			}
			out = append(out, e)
		}
		return out
	}
	want := []entry{
		{"@every 1m0s", `{"tenant_id":1,"account_id":7}`, []string{`TaskID("sync:users:7:1740824100")`, "Retention(15m0s)"}},
		{"@every 1m0s", `{"tenant_id":2,"account_id":8}`, []string{`TaskID("sync:users:8:1740823200")`, "Retention(1h0m0s)"}},
		{"@every 6s", `{"tenant_id":2,"account_id":9}`, []string{`TaskID("sync:users:9:1740824100")`, "Retention(1m0s)"}},
	}
	if diff := cmp.Diff(want, read()); diff != "" {
		t.Errorf("configs (-want +got):\n%s", diff)
	}
	// Into the next 15-minute slot: only the ids of slots that ended change.
	now = now.Add(15 * time.Minute)
	got := read()
	if got[0].Opts[0] != `TaskID("sync:users:7:1740825000")` || got[1].Opts[0] != want[1].Opts[0] {
		t.Errorf("ids after 15 min: %v, %v", got[0].Opts[0], got[1].Opts[0])
	}
}
