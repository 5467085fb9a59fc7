package routing

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/crmsync/crmsync/connectors"
)

// packedAnswers keeps the answers for E.164 callers in memory the garbage
// collector never scans: maps whose keys and values hold no pointers. The
// router keeps about 100,000 answers warm; held as Go values with strings
// (in an LRU list of entries, their map, and the strings) they were most
// of its live heap and every GC cycle marked them again, which cost about
// a quarter of the router's CPU on the cached path (bench/router's
// profile). An answer packs when its entity id is a decimal number and its
// kind is known, which is what amoCRM, HubSpot and Pipedrive return; the
// rest (Bitrix24's "company:…" ids, CRM failures, callers that are not
// numbers) stay in localCache's LRU.
//
// Eviction is by age of insertion, like the LRU's: a hit does not reorder
// (TTLs bound an answer's life anyway), a put makes the answer the newest.
type packedAnswers struct {
	shards [answerShards]packedShard
	users  userTable
}

// numKey is an answerKey of an E.164 caller.
type numKey struct {
	tenant int64
	num    uint64
}

// packed is an answer without pointers.
type packed struct {
	account int64
	seq     uint64
	expires int64
	entity  uint64 // the entity id, a decimal number
	user    uint32 // the CRM user id, by its index in userTable
	slot    uint32 // where the key sits in its shard's ring
	order   uint16
	kind    uint8 // index in packedKinds
	found   bool
	invalid bool
}

// packedKinds are the entity kinds a packed answer can name; 0 is none.
var packedKinds = [...]connectors.EntityKind{"", connectors.KindLead, connectors.KindDeal, connectors.KindContact}

// packedShard is one lock's worth of answers, at most per of them. ring is
// a queue of the keys in insertion order, oldest at head: a put appends its
// key, and a key put again leaves a dead slot behind (its packed.slot has
// moved on). When the shard is full, a new key evicts the oldest live key;
// when the ring is full, its dead slots are dropped (compact).
type packedShard struct {
	mu         sync.RWMutex
	m          map[numKey]packed
	ring       []numKey
	head, used uint32
	per        int
}

func newPackedAnswers(size int) *packedAnswers {
	p := &packedAnswers{}
	per := max(size/answerShards, 16)
	for i := range p.shards {
		p.shards[i] = packedShard{m: make(map[numKey]packed, per), ring: make([]numKey, 2*per), per: per}
	}
	return p
}

// popOldest takes the oldest slot off the ring and evicts its key if the
// slot is still that key's.
func (sh *packedShard) popOldest() {
	slot := sh.head
	sh.head = (sh.head + 1) % uint32(len(sh.ring))
	sh.used--
	k := sh.ring[slot]
	if v, ok := sh.m[k]; ok && v.slot == slot {
		delete(sh.m, k)
	}
}

// compact drops the ring's dead slots, keeping the live keys in order. The
// ring has room for twice the answers, so this runs at most once per per
// puts, and frees at least per slots.
func (sh *packedShard) compact() {
	n := uint32(len(sh.ring))
	w := uint32(0)
	for i := range sh.used {
		from := (sh.head + i) % n
		k := sh.ring[from]
		v, ok := sh.m[k]
		if !ok || v.slot != from {
			continue
		}
		to := (sh.head + w) % n // never ahead of from
		sh.ring[to] = k
		v.slot = to
		sh.m[k] = v
		w++
	}
	sh.used = w
}

// add keeps v for k as the newest insertion. The caller holds mu.
func (sh *packedShard) add(k numKey, v packed) {
	if _, ok := sh.m[k]; !ok {
		for len(sh.m) >= sh.per {
			sh.popOldest() // skips dead slots until it evicts a key
		}
	}
	if sh.used == uint32(len(sh.ring)) {
		sh.compact()
	}
	slot := (sh.head + sh.used) % uint32(len(sh.ring))
	sh.used++
	sh.ring[slot] = k
	v.slot = slot
	sh.m[k] = v
}

func (p *packedAnswers) shard(k numKey) *packedShard { return &p.shards[k.num%answerShards] }

// get returns the answer for k, whatever its age.
func (p *packedAnswers) get(k numKey) (answer, bool) {
	sh := p.shard(k)
	sh.mu.RLock()
	v, ok := sh.m[k]
	sh.mu.RUnlock()
	if !ok {
		return answer{}, false
	}
	return p.unpack(&v), true
}

// put keeps a for k when it packs, and reports whether it did.
func (p *packedAnswers) put(k numKey, a *answer) bool {
	v, ok := p.pack(a)
	if !ok {
		return false
	}
	sh := p.shard(k)
	sh.mu.Lock()
	sh.add(k, v)
	sh.mu.Unlock()
	return true
}

func (p *packedAnswers) remove(k numKey) {
	sh := p.shard(k)
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
}

func (p *packedAnswers) purge() {
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.head, sh.used = 0, 0
		sh.mu.Unlock()
	}
}

func (p *packedAnswers) pack(a *answer) (packed, bool) {
	if a.failure != "" {
		return packed{}, false
	}
	v := packed{account: a.account, seq: a.seq, expires: a.expires, order: a.order, found: a.found, invalid: a.invalid}
	if !a.found {
		return v, true
	}
	kind := -1
	for i, k := range packedKinds {
		if k == a.kind {
			kind = i
		}
	}
	entity, ok := canonicalUint(a.entityID)
	if kind < 0 || !ok {
		return packed{}, false
	}
	user, ok := p.users.index(a.crmUser)
	if !ok {
		return packed{}, false
	}
	v.kind, v.entity, v.user = uint8(kind), entity, user
	return v, true
}

// unpack rebuilds the answer. Its entity id is formatted anew: one small
// allocation per cached call, against the GC marking the strings of every
// cached answer in every cycle.
func (p *packedAnswers) unpack(v *packed) answer {
	a := answer{account: v.account, seq: v.seq, expires: v.expires, order: v.order, found: v.found, invalid: v.invalid}
	if v.found {
		a.kind = packedKinds[v.kind]
		a.entityID = strconv.FormatUint(v.entity, 10)
		a.crmUser = p.users.name(v.user)
	}
	return a
}

// canonicalUint reads s as a decimal number that formats back to s: no
// sign, no leading zeros, at most 19 digits.
func canonicalUint(s string) (uint64, bool) {
	if s == "" || len(s) > 19 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// userTable numbers the CRM user ids answers name. There are few of them
// (the CRMs' users), so one shared copy of each serves every answer, and
// the cached path hashes the shared copy to find the link, which stays in
// the CPU cache where 100,000 separate copies would not. Names only grow
// (up to maxInterned); readers take the published slice without a lock.
type userTable struct {
	mu    sync.Mutex
	ids   map[string]uint32
	names atomic.Pointer[[]string]
}

// maxInterned bounds the table; answers naming more users stay unpacked.
const maxInterned = 100_000

// index returns id's number, adding it when new.
func (t *userTable) index(id string) (uint32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.ids[id]; ok {
		return i, true
	}
	var names []string
	if p := t.names.Load(); p != nil {
		names = *p
	}
	if len(names) >= maxInterned {
		return 0, false
	}
	if t.ids == nil {
		t.ids = map[string]uint32{}
	}
	i := uint32(len(names))
	// Readers hold shorter slices of the same array: appending past their
	// length does not touch what they read.
	names = append(names, id)
	t.ids[id] = i
	t.names.Store(&names)
	return i, true
}

// name returns the id numbered i.
func (t *userTable) name(i uint32) string { return (*t.names.Load())[i] }

// intern returns the shared copy of id, or id when the table is full.
func (t *userTable) intern(id string) string {
	if i, ok := t.index(id); ok {
		return t.name(i)
	}
	return id
}
