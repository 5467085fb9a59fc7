package routing

import (
	"context"
	"errors"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"

	"github.com/crmsync/crmsync/connectors"
)

// answer is what the CRM said about one caller of one tenant: the open
// entity that names the responsible user, or no match. It is immutable.
type answer struct {
	found    bool
	account  int64
	kind     connectors.EntityKind
	entityID string
	crmUser  string // responsible CRM user id

	// failure, when set, says why the CRM could not answer; such an
	// answer is kept briefly (ErrorTTL), in this process only.
	failure string
	// invalid marks a caller that is not a phone number (answered from
	// the cache like a no-match).
	invalid bool

	// order is the tenant's search order the lookup used (orderCode): an
	// answer found under another order is not used.
	order   uint16
	seq     uint64 // the invalidation sequence when the lookup began
	expires int64  // Unix nanoseconds by Resolver.Now
}

// usable reports whether a still fits the tenant's snapshot: found under
// the current search order, naming an account still connected.
func (a *answer) usable(s *snapshot) bool {
	return a.order == s.orderCode && (!a.found || s.connected(a.account))
}

// answerKey names a caller of a tenant: an E.164 number by its digits (an
// integer compares and hashes without touching string memory), or, for a
// caller that is not a valid number, the raw string.
type answerKey struct {
	tenant int64
	num    uint64 // the digits of the E.164 number; 0 when raw is set
	raw    string
}

// keyFor returns the key of caller, an E.164 number or, when not one, any
// raw string.
func keyFor(tenant int64, caller string) answerKey {
	if n, ok := e164Digits(caller); ok {
		return answerKey{tenant: tenant, num: n}
	}
	return answerKey{tenant: tenant, raw: caller}
}

// caller returns the caller the key names, as E.164 or raw.
func (k answerKey) caller() string {
	if k.num != 0 {
		return "+" + strconv.FormatUint(k.num, 10)
	}
	return k.raw
}

// normKey is a raw caller in a tenant's region, for the callers the PBX
// does not send as E.164.
type normKey struct {
	region string
	raw    string
}

// tombKey names what an invalidation tombstone covers.
type tombKey struct {
	kind uint8  // tombCaller, tombEntity, tombAccount, tombNoMatch, tombTenant
	id   int64  // tenant (caller, no-match, tenant) or account (entity, account)
	n    uint64 // caller: answerKey.num
	a, b string // caller: answerKey.raw; entity: kind and id
}

const (
	tombCaller  uint8 = iota + 1 // id: tenant, n and a: the answerKey
	tombEntity                   // id: account, a: kind, b: entity id
	tombAccount                  // id: account
	tombNoMatch                  // id: tenant; no-match answers only
	tombTenant                   // id: tenant; snapshots and called numbers
)

// tombstones record invalidations by sequence number: an answer whose
// lookup began before a tombstone that covers it is stale. They make
// invalidation O(1) without a reverse index, and they also catch lookups
// that were in flight when the invalidation came. A tombstone is kept for
// LocalTTL, after which every answer it could cover has expired.
type tombstones struct {
	seq atomic.Uint64
	all atomic.Uint64 // the last invalidation of everything
	n   atomic.Int64  // len(m), so the cached path skips the lock when empty
	mu  sync.RWMutex
	m   map[tombKey]tomb
}

type tomb struct {
	seq uint64
	at  time.Time // wall clock, for pruning
}

// add records an invalidation of k now and returns its sequence number.
func (t *tombstones) add(k tombKey) uint64 {
	seq := t.seq.Add(1)
	t.mu.Lock()
	if t.m == nil {
		t.m = map[tombKey]tomb{}
	}
	t.m[k] = tomb{seq: seq, at: time.Now()}
	t.n.Store(int64(len(t.m)))
	t.mu.Unlock()
	return seq
}

// current is the sequence number a lookup or load beginning now records.
func (t *tombstones) current() uint64 { return t.seq.Load() }

// dropAll invalidates everything cached so far.
func (t *tombstones) dropAll() { t.all.Store(t.seq.Add(1)) }

// tenantStale reports whether the tenant was invalidated since seq.
func (t *tombstones) tenantStale(id int64, seq uint64) bool {
	if t.all.Load() > seq {
		return true
	}
	if t.n.Load() == 0 {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	tb, ok := t.m[tombKey{kind: tombTenant, id: id}]
	return ok && tb.seq > seq
}

// stale reports whether a tombstone covers a, the answer for k.
func (t *tombstones) stale(a *answer, k answerKey) bool {
	if t.all.Load() > a.seq {
		return true
	}
	if t.n.Load() == 0 {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if tb, ok := t.m[tombKey{kind: tombCaller, id: k.tenant, n: k.num, a: k.raw}]; ok && tb.seq > a.seq {
		return true
	}
	if !a.found {
		tb, ok := t.m[tombKey{kind: tombNoMatch, id: k.tenant}]
		return ok && tb.seq > a.seq
	}
	if tb, ok := t.m[tombKey{kind: tombAccount, id: a.account}]; ok && tb.seq > a.seq {
		return true
	}
	tb, ok := t.m[tombKey{kind: tombEntity, id: a.account, a: string(a.kind), b: a.entityID}]
	return ok && tb.seq > a.seq
}

// prune drops tombstones older than maxAge.
func (t *tombstones) prune(maxAge time.Duration) {
	cutoff := time.Now().Add(-maxAge)
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, tb := range t.m {
		if tb.at.Before(cutoff) {
			delete(t.m, k)
		}
	}
	t.n.Store(int64(len(t.m)))
}

// answerShards splits the answer LRU so that concurrent calls rarely touch
// the same lock.
const answerShards = 16

// localCache is the in-process layer: answers per caller, and the
// normalised form of callers not sent as E.164. Answers for E.164 callers
// that pack go in packed, where the GC does not scan them; the others in
// the LRU shards. A key is in one of the two at most.
type localCache struct {
	seed   maphash.Seed
	packed *packedAnswers
	shards [answerShards]*lru.Cache[answerKey, answer] // by value: one pointer less to chase
	norm   *lru.Cache[normKey, string]                 // "" for a caller that is not a number
	tombs  tombstones
}

func newLocalCache(size int) *localCache {
	c := &localCache{seed: maphash.MakeSeed(), packed: newPackedAnswers(size)}
	for i := range c.shards {
		c.shards[i], _ = lru.New[answerKey, answer](max(size/answerShards, 16))
	}
	c.norm, _ = lru.New[normKey, string](max(size/4, 1024))
	return c
}

func (c *localCache) shard(k answerKey) *lru.Cache[answerKey, answer] {
	if k.num != 0 {
		return c.shards[k.num%answerShards]
	}
	return c.shards[maphash.String(c.seed, k.raw)%answerShards]
}

// get returns the live answer for k at now (Unix nanoseconds). It peeks:
// a hit takes the shard's read lock only and does not reorder, so
// eviction is by age of insertion, which TTLs bound anyway.
func (c *localCache) get(k answerKey, now int64) (answer, bool) {
	a, ok := answer{}, false
	if k.num != 0 {
		a, ok = c.packed.get(numKey{k.tenant, k.num})
	}
	if !ok {
		if a, ok = c.shard(k).Peek(k); !ok {
			return answer{}, false
		}
	}
	if a.expires <= now || c.tombs.stale(&a, k) {
		c.remove(k)
		return answer{}, false
	}
	return a, true
}

// put keeps a, unless an invalidation came since its lookup began.
func (c *localCache) put(k answerKey, a *answer) {
	if c.tombs.stale(a, k) {
		return
	}
	if k.num != 0 && c.packed.put(numKey{k.tenant, k.num}, a) {
		c.shard(k).Remove(k)
		return
	}
	if k.num != 0 {
		c.packed.remove(numKey{k.tenant, k.num})
	}
	v := *a
	v.crmUser = c.packed.users.intern(v.crmUser)
	c.shard(k).Add(k, v)
}

func (c *localCache) remove(k answerKey) {
	if k.num != 0 {
		c.packed.remove(numKey{k.tenant, k.num})
	}
	c.shard(k).Remove(k)
}

func (c *localCache) purge() {
	c.packed.purge()
	for _, sh := range c.shards {
		sh.Purge()
	}
}

// didCache remembers called numbers (raw, as sent) → tenant. It is read
// on every call, so it is a sync.Map (no lock for stable keys) rather
// than an LRU; past max entries it starts over.
type didCache struct {
	m   sync.Map // string → *didEntry
	n   atomic.Int64
	max int64
}

// didEntry is a called number as seen: its tenant (0: none) and E.164 form.
type didEntry struct {
	tenant  int64
	e164    string
	expires int64 // Unix nanoseconds by Resolver.Now
}

func (c *didCache) get(raw string, now int64) (*didEntry, bool) {
	v, ok := c.m.Load(raw)
	if !ok {
		return nil, false
	}
	e := v.(*didEntry)
	return e, e.expires > now
}

func (c *didCache) add(raw string, e *didEntry) {
	if c.n.Add(1) > c.max {
		c.m.Clear()
		c.n.Store(1)
	}
	c.m.Store(raw, e)
}

// drop forgets the numbers of the tenant and those no tenant had.
func (c *didCache) drop(tenant int64) {
	c.m.Range(func(k, v any) bool {
		if e := v.(*didEntry); e.tenant == tenant || e.tenant == 0 {
			c.m.Delete(k)
		}
		return true
	})
}

func (c *didCache) purge() {
	c.m.Clear()
	c.n.Store(0)
}

// Redis layout, under Resolver.KeyPrefix (default "crmsync:routing:"):
//
//	a:<tenant>:<caller>                answer, TTL RedisTTL / RedisNegativeTTL
//	ie:<account>:<kind>:<entity id>    set of "<tenant>:<caller>" whose answer names the entity
//	ia:<account>                       set of "<tenant>:<caller>" whose answer names the account
//	x:c:<tenant>:<caller>              tombstones (Unix ms), TTL tombTTL, checked before
//	x:e:<account>:<kind>:<entity id>   a background lookup writes, so one that began
//	x:a:<account>                      before an invalidation does not bring it back

// tombTTL covers every lookup that can be in flight at an invalidation.
const tombTTL = time.Minute

func answerRedisKey(prefix string, tenant int64, caller string) string {
	return prefix + "a:" + strconv.FormatInt(tenant, 10) + ":" + caller
}

func entityIndexKey(prefix string, account int64, kind, id string) string {
	return prefix + "ie:" + strconv.FormatInt(account, 10) + ":" + kind + ":" + id
}

func accountIndexKey(prefix string, account int64) string {
	return prefix + "ia:" + strconv.FormatInt(account, 10)
}

func callerTombKey(prefix string, tenant int64, caller string) string {
	return prefix + "x:c:" + strconv.FormatInt(tenant, 10) + ":" + caller
}

func entityTombKey(prefix string, account int64, kind, id string) string {
	return prefix + "x:e:" + strconv.FormatInt(account, 10) + ":" + kind + ":" + id
}

func accountTombKey(prefix string, account int64) string {
	return prefix + "x:a:" + strconv.FormatInt(account, 10)
}

// encodeAnswer writes a compactly: "1|<fetched ms>|<order>|<account>|
// <kind>|<crm user>|<entity id>" or "0|<fetched ms>|<order>". The entity
// id goes last, so it may hold any character.
func encodeAnswer(a *answer, fetchedMs int64) string {
	head := "|" + strconv.FormatInt(fetchedMs, 10) + "|" + strconv.FormatUint(uint64(a.order), 10)
	if !a.found {
		return "0" + head
	}
	return "1" + head + "|" + strconv.FormatInt(a.account, 10) + "|" + string(a.kind) + "|" + a.crmUser + "|" + a.entityID
}

var errBadAnswer = errors.New("routing: malformed cached answer")

// decodeAnswer reads what encodeAnswer wrote.
func decodeAnswer(s string) (*answer, error) {
	parts := strings.SplitN(s, "|", 7)
	if len(parts) < 3 || (parts[0] != "0" && parts[0] != "1") {
		return nil, errBadAnswer
	}
	order, err := strconv.ParseUint(parts[2], 10, 16)
	if err != nil {
		return nil, errBadAnswer
	}
	if parts[0] == "0" {
		return &answer{order: uint16(order)}, nil
	}
	if len(parts) != 7 {
		return nil, errBadAnswer
	}
	acct, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || !connectors.EntityKind(parts[4]).Valid() || parts[6] == "" {
		return nil, errBadAnswer
	}
	return &answer{found: true, order: uint16(order), account: acct, kind: connectors.EntityKind(parts[4]),
		crmUser: parts[5], entityID: parts[6]}, nil
}

// redisGet reads a caller's answer from Redis; ok is false on a miss or an
// error (Redis being down only costs a CRM lookup).
func (r *Resolver) redisGet(ctx context.Context, k answerKey) (*answer, bool, error) {
	if r.Redis == nil {
		return nil, false, nil
	}
	s, err := r.Redis.Get(ctx, answerRedisKey(r.KeyPrefix, k.tenant, k.caller())).Result()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	a, err := decodeAnswer(s)
	if err != nil {
		return nil, false, err
	}
	return a, true, nil
}

// redisPut shares a fresh CRM answer with every router. It skips the
// write when an invalidation covering it came after the lookup began
// (begunMs, wall clock), and indexes found answers by entity and account
// so an invalidation can find them.
func (r *Resolver) redisPut(ctx context.Context, k answerKey, a *answer, begunMs int64, ttl time.Duration) error {
	if r.Redis == nil {
		return nil
	}
	p, caller := r.KeyPrefix, k.caller()
	tombs := []string{callerTombKey(p, k.tenant, caller)}
	if a.found {
		tombs = append(tombs, entityTombKey(p, a.account, string(a.kind), a.entityID), accountTombKey(p, a.account))
	}
	vals, err := r.Redis.MGet(ctx, tombs...).Result()
	if err != nil {
		return err
	}
	for _, v := range vals {
		if s, ok := v.(string); ok {
			if at, _ := strconv.ParseInt(s, 10, 64); at >= begunMs {
				return nil
			}
		}
	}
	member := strconv.FormatInt(k.tenant, 10) + ":" + caller
	_, err = r.Redis.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, answerRedisKey(p, k.tenant, caller), encodeAnswer(a, time.Now().UnixMilli()), ttl)
		if a.found {
			for _, idx := range []string{entityIndexKey(p, a.account, string(a.kind), a.entityID), accountIndexKey(p, a.account)} {
				pipe.SAdd(ctx, idx, member)
				pipe.Expire(ctx, idx, r.RedisTTL)
			}
		}
		return nil
	})
	return err
}
