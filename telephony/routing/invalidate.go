package routing

import (
	"cmp"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/mapping"
)

// Invalidation messages, published on Resolver.Channel:
//
//	tenant:<tenant id>                         directory, settings or links changed: reload the snapshot
//	caller:<tenant id>:<E.164>                 drop the caller's answer
//	entity:<account id>:<kind>:<entity id>     drop every answer naming the entity
//	account:<account id>                       drop every answer naming the account
const (
	msgTenant  = "tenant"
	msgCaller  = "caller"
	msgEntity  = "entity"
	msgAccount = "account"
)

// Invalidator tells every router that cached routing data changed: it
// deletes the shared Redis answers concerned (leaving tombstones so a
// lookup in flight does not bring them back) and publishes a message that
// every Resolver applies to its own memory. web (after directory, settings
// and link changes, and for CRM webhooks) and jobs (after a user sync)
// use it. A nil Redis makes every method a no-op. It is safe for
// concurrent use.
type Invalidator struct {
	Redis     redis.UniversalClient
	KeyPrefix string // DefaultKeyPrefix when empty; must match the Resolvers'
	Channel   string // DefaultChannel when empty; must match the Resolvers'
}

func (iv *Invalidator) prefix() string  { return cmp.Or(iv.KeyPrefix, DefaultKeyPrefix) }
func (iv *Invalidator) channel() string { return cmp.Or(iv.Channel, DefaultChannel) }

// InvalidateTenant makes every router reload the tenant's directory
// snapshot (employees, departments, numbers, accounts, links, settings).
// Cached CRM answers stay: they name CRM users, not employees.
func (iv *Invalidator) InvalidateTenant(ctx context.Context, tenantID int64) error {
	if iv == nil || iv.Redis == nil {
		return nil
	}
	return iv.Redis.Publish(ctx, iv.channel(), msgTenant+":"+strconv.FormatInt(tenantID, 10)).Err()
}

// InvalidateCaller drops the cached answer of a caller (E.164) of a tenant.
func (iv *Invalidator) InvalidateCaller(ctx context.Context, tenantID int64, e164 string) error {
	return iv.publish(ctx, []invalidation{{caller: e164, tenant: tenantID}})
}

// InvalidateEntity drops every cached answer that names the entity of the
// account.
func (iv *Invalidator) InvalidateEntity(ctx context.Context, accountID int64, kind connectors.EntityKind, id string) error {
	return iv.publish(ctx, []invalidation{{account: accountID, kind: kind, entity: id}})
}

// InvalidateAccount drops every cached answer that names the account
// (after a relink or disconnect).
func (iv *Invalidator) InvalidateAccount(ctx context.Context, accountID int64) error {
	return iv.publish(ctx, []invalidation{{account: accountID}})
}

// InvalidateChanges applies decoded CRM webhook changes of a tenant's
// account: each entity named (every kind when the change has none) and
// each phone on it (read in region) is dropped. It returns how many
// messages it published.
func (iv *Invalidator) InvalidateChanges(ctx context.Context, tenantID, accountID int64, region string, changes []connectors.Change) (int, error) {
	var invs []invalidation
	seen := map[invalidation]bool{}
	add := func(in invalidation) {
		if !seen[in] {
			seen[in] = true
			invs = append(invs, in)
		}
	}
	for _, ch := range changes {
		if ch.EntityID != "" {
			kinds := []connectors.EntityKind{ch.Kind}
			if !ch.Kind.Valid() {
				kinds = connectors.DefaultOrder
			}
			for _, k := range kinds {
				add(invalidation{account: accountID, kind: k, entity: ch.EntityID})
			}
		}
		for _, p := range ch.Phones {
			if e164, err := mapping.E164(p, region); err == nil {
				add(invalidation{tenant: tenantID, caller: e164})
			}
		}
	}
	return len(invs), iv.publish(ctx, invs)
}

// invalidation is one caller, entity or account to drop.
type invalidation struct {
	tenant  int64
	caller  string
	account int64
	kind    connectors.EntityKind
	entity  string
}

func (in invalidation) message() string {
	switch {
	case in.caller != "":
		return msgCaller + ":" + strconv.FormatInt(in.tenant, 10) + ":" + in.caller
	case in.entity != "":
		return msgEntity + ":" + strconv.FormatInt(in.account, 10) + ":" + string(in.kind) + ":" + in.entity
	}
	return msgAccount + ":" + strconv.FormatInt(in.account, 10)
}

// publish deletes the Redis answers the invalidations cover, leaves
// tombstones, and publishes one message each, in two round trips.
func (iv *Invalidator) publish(ctx context.Context, invs []invalidation) error {
	if iv == nil || iv.Redis == nil || len(invs) == 0 {
		return nil
	}
	p := iv.prefix()
	members := make([]*redis.StringSliceCmd, len(invs))
	_, err := iv.Redis.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, in := range invs {
			switch {
			case in.caller != "":
			case in.entity != "":
				members[i] = pipe.SMembers(ctx, entityIndexKey(p, in.account, string(in.kind), in.entity))
			default:
				members[i] = pipe.SMembers(ctx, accountIndexKey(p, in.account))
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	_, err = iv.Redis.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, in := range invs {
			switch {
			case in.caller != "":
				pipe.Del(ctx, answerRedisKey(p, in.tenant, in.caller))
				pipe.Set(ctx, callerTombKey(p, in.tenant, in.caller), now, tombTTL)
			case in.entity != "":
				pipe.Del(ctx, entityIndexKey(p, in.account, string(in.kind), in.entity))
				pipe.Set(ctx, entityTombKey(p, in.account, string(in.kind), in.entity), now, tombTTL)
			default:
				pipe.Del(ctx, accountIndexKey(p, in.account))
				pipe.Set(ctx, accountTombKey(p, in.account), now, tombTTL)
			}
			if members[i] != nil {
				for _, m := range members[i].Val() {
					pipe.Del(ctx, p+"a:"+m) // members are "<tenant>:<caller>"
				}
			}
			pipe.Publish(ctx, iv.channel(), in.message())
		}
		return nil
	})
	return err
}

// apply applies one invalidation message to this process's memory.
func (r *Resolver) apply(msg string) {
	kind, rest, _ := strings.Cut(msg, ":")
	switch kind {
	case msgTenant:
		if id, err := strconv.ParseInt(rest, 10, 64); err == nil {
			r.dropTenant(id)
		}
	case msgCaller:
		ts, caller, ok := strings.Cut(rest, ":")
		id, err := strconv.ParseInt(ts, 10, 64)
		if !ok || err != nil {
			break
		}
		k := keyFor(id, caller)
		r.local.tombs.add(tombKey{kind: tombCaller, id: id, n: k.num, a: k.raw})
		r.local.remove(k)
	case msgEntity:
		parts := strings.SplitN(rest, ":", 3) // the entity id may hold ':' ("company:7")
		if len(parts) != 3 {
			break
		}
		id, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil {
			break
		}
		r.local.tombs.add(tombKey{kind: tombEntity, id: id, a: parts[1], b: parts[2]})
	case msgAccount:
		if id, err := strconv.ParseInt(rest, 10, 64); err == nil {
			r.local.tombs.add(tombKey{kind: tombAccount, id: id})
		}
	default:
		r.log.Warn("routing: unknown invalidation message", "message", msg)
		return
	}
	r.m.invalidations.WithLabelValues(kind).Inc()
}

// dropAll forgets everything in memory: after the subscription was lost,
// messages may have been missed.
func (r *Resolver) dropAll() {
	r.local.tombs.dropAll()
	r.local.purge()
	r.dids.purge()
	r.snaps.clear()
	r.m.invalidations.WithLabelValues("all").Inc()
}

// subscribe subscribes to the invalidation channel and waits for Redis to
// confirm, so no message published after Open is missed.
func (r *Resolver) subscribe(ctx context.Context) error {
	ps := r.Redis.Subscribe(ctx, r.Channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return err
	}
	r.pubsub = ps
	return nil
}

// background runs the listener (with Redis) and prunes tombstones, until
// Close.
func (r *Resolver) background() {
	defer close(r.done)
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.local.tombs.prune(r.LocalTTL + r.LocalNegativeTTL)
			case <-r.ctx.Done():
				return
			}
		}
	}()
	if r.pubsub != nil {
		r.listen()
	}
	<-pruned
}

// listen applies invalidation messages until Close. go-redis reconnects
// and resubscribes by itself after an error; Redis then confirms the
// subscription again, and since messages may have been lost meanwhile, the
// local caches are dropped.
func (r *Resolver) listen() {
	lost := false
	backoff := 100 * time.Millisecond
	for {
		msg, err := r.pubsub.ReceiveTimeout(r.ctx, 30*time.Second)
		if r.ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && r.pubsub.Ping(r.ctx) == nil {
				continue // idle: the ping's pong comes next
			}
			if !lost {
				r.log.Warn("routing: invalidation subscription lost; reconnecting", "error", err)
			}
			lost = true
			select {
			case <-time.After(backoff):
			case <-r.ctx.Done():
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Message:
			r.apply(m.Payload)
		case *redis.Subscription:
			if lost {
				r.log.Info("routing: invalidation subscription restored; dropping local caches")
				r.m.reconnects.Inc()
				r.dropAll()
				lost = false
			}
		}
	}
}
