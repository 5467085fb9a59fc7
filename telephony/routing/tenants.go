package routing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/crmsync/crmsync/telephony"
)

// errNoTenant is a snapshot load of a tenant id that does not exist.
var errNoTenant = errors.New("routing: no such tenant")

// gone reports whether s records a tenant id that does not exist.
func (s *snapshot) gone() bool { return s.tenant.ID == 0 }

// did returns the tenant of a raw called number, reading the numbers table
// on a miss (every E.164 form the number may stand for).
func (r *Resolver) did(ctx context.Context, raw string, now time.Time) (*didEntry, error) {
	if e, ok := r.dids.get(raw, now.UnixNano()); ok {
		return e, nil
	}
	v, err, _ := r.loads.Do("d:"+raw, func() (any, error) {
		seq := r.local.tombs.current()
		e := &didEntry{expires: now.Add(didNegativeTTL).UnixNano()}
		for _, cand := range didCandidates(raw, r.Region) {
			if e.e164 == "" {
				e.e164 = cand
			}
			t, err := r.Directory.TenantByNumber(ctx, cand)
			if telephony.ErrorCode(err) == telephony.ENotFound {
				continue
			}
			if err != nil {
				r.m.loads.WithLabelValues("did", "error").Inc()
				return nil, err
			}
			e = &didEntry{tenant: t.ID, e164: cand, expires: now.Add(r.SnapshotTTL).UnixNano()}
			break
		}
		result := "ok"
		if e.tenant == 0 {
			result = "not_found"
		}
		r.m.loads.WithLabelValues("did", result).Inc()
		if !r.local.tombs.tenantStale(e.tenant, seq) {
			r.dids.add(raw, e)
		}
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*didEntry), nil
}

// snapshot returns the tenant's snapshot, loading it once however many
// calls ask at the same time. A load that raced an invalidation of the
// tenant is used for the calls that waited on it but not kept.
func (r *Resolver) snapshot(ctx context.Context, id int64) (*snapshot, error) {
	if s, ok := r.snaps.load(id); ok {
		if !s.gone() {
			return s, nil
		}
		if time.Since(s.loadedAt) < missingTenantTTL {
			return nil, errNoTenant
		}
	}
	v, err, _ := r.loads.Do("t:"+strconv.FormatInt(id, 10), func() (any, error) {
		return r.loadSnapshot(ctx, id)
	})
	if err != nil {
		return nil, err
	}
	return v.(*snapshot), nil
}

func (r *Resolver) loadSnapshot(ctx context.Context, id int64) (*snapshot, error) {
	seq := r.local.tombs.current()
	now := time.Now()
	t, err := r.Directory.Tenant(ctx, id)
	if telephony.ErrorCode(err) == telephony.ENotFound {
		r.m.loads.WithLabelValues("snapshot", "not_found").Inc()
		r.snaps.store(id, &snapshot{loadedAt: now})
		return nil, errNoTenant
	}
	var s *snapshot
	if err == nil {
		s, err = loadSnapshot(ctx, r.Directory, t, now)
	}
	if err != nil {
		r.m.loads.WithLabelValues("snapshot", "error").Inc()
		return nil, fmt.Errorf("tenant %d: %w", id, err)
	}
	r.m.loads.WithLabelValues("snapshot", "ok").Inc()
	if r.local.tombs.tenantStale(id, seq) {
		return s, nil
	}
	if old, ok := r.snaps.load(id); ok && !old.gone() && newAccounts(old, s) {
		// A newly connected account may know callers cached as no-match.
		r.local.tombs.add(tombKey{kind: tombNoMatch, id: id})
	}
	r.snaps.store(id, s)
	return s, nil
}

// newAccounts reports whether next has a connected account old lacks.
func newAccounts(old, next *snapshot) bool {
	for id := range next.connector {
		if !old.connected(id) {
			return true
		}
	}
	return false
}

// refresh reloads a snapshot past SnapshotTTL in the background; the old
// one serves meanwhile.
func (r *Resolver) refresh(id int64) {
	if !r.begin() {
		return
	}
	defer r.inflight.Done()
	ctx, cancel := context.WithTimeout(r.ctx, r.BackgroundTimeout)
	defer cancel()
	if _, err, _ := r.loads.Do("t:"+strconv.FormatInt(id, 10), func() (any, error) {
		return r.loadSnapshot(ctx, id)
	}); err != nil && !errors.Is(err, errNoTenant) {
		r.log.Warn("routing: snapshot reload failed", "tenant_id", id, "error", err)
		if s, ok := r.snaps.load(id); ok {
			s.refreshing.Store(false) // try again on a later call
		}
	}
}

// dropTenant forgets the tenant's snapshot and called numbers (and the
// numbers no tenant had: one may just have been added).
func (r *Resolver) dropTenant(id int64) {
	r.local.tombs.add(tombKey{kind: tombTenant, id: id})
	r.snaps.delete(id)
	r.dids.drop(id)
}
