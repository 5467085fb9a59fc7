package routing

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLocalCache_PackedAndLoose(t *testing.T) {
	c := newLocalCache(1000)
	const now, later = 100, 200
	tests := []struct {
		name   string
		key    answerKey
		answer answer
		packed bool // kept where the GC does not scan it
	}{
		{"Found", keyFor(1, "+380671234567"), answer{found: true, account: 3, kind: "deal", entityID: "9003", crmUser: "7"}, true},
		{"NoMatch", keyFor(1, "+380671234568"), answer{order: 27}, true},
		{"Invalid", keyFor(1, "+380671234569"), answer{invalid: true}, true},
		{"EmptyUser", keyFor(2, "+380671234567"), answer{found: true, account: 4, kind: "contact", entityID: "0"}, true},
		{"CompanyID", keyFor(1, "+380671234570"), answer{found: true, account: 3, kind: "contact", entityID: "company:5", crmUser: "7"}, false},
		{"LeadingZero", keyFor(1, "+380671234571"), answer{found: true, account: 3, kind: "lead", entityID: "0042", crmUser: "7"}, false},
		{"TooLong", keyFor(1, "+380671234572"), answer{found: true, account: 3, kind: "lead", entityID: "12345678901234567890", crmUser: "7"}, false},
		{"Failure", keyFor(1, "+380671234573"), answer{failure: "CRM timed out"}, false},
		{"RawCaller", keyFor(1, "alice"), answer{invalid: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.answer
			a.expires = later
			c.put(tt.key, &a)
			got, ok := c.get(tt.key, now)
			if !ok {
				t.Fatal("not cached")
			}
			if diff := cmp.Diff(a, got, cmp.AllowUnexported(answer{})); diff != "" {
				t.Errorf("cached answer (-want +got):\n%s", diff)
			}
			_, inPacked := c.packed.get(numKey{tt.key.tenant, tt.key.num})
			_, inLRU := c.shard(tt.key).Peek(tt.key)
			if inPacked != tt.packed || inLRU == tt.packed {
				t.Errorf("in packed %v, in LRU %v; want packed %v", inPacked, inLRU, tt.packed)
			}
			if _, ok := c.get(tt.key, later); ok {
				t.Error("expired answer returned")
			}
		})
	}

	// An answer that no longer packs replaces the packed one, and back.
	k := keyFor(9, "+380671234567")
	c.put(k, &answer{found: true, account: 1, kind: "lead", entityID: "5", expires: later})
	c.put(k, &answer{failure: "down", expires: later})
	if got, ok := c.get(k, now); !ok || got.failure != "down" {
		t.Errorf("after an unpackable put: %+v, %v", got, ok)
	}
	c.put(k, &answer{found: true, account: 1, kind: "lead", entityID: "6", expires: later})
	if got, ok := c.get(k, now); !ok || got.entityID != "6" {
		t.Errorf("after a packable put: %+v, %v", got, ok)
	}
	if _, ok := c.shard(k).Peek(k); ok {
		t.Error("the LRU still holds the replaced answer")
	}
	c.remove(k)
	if _, ok := c.get(k, now); ok {
		t.Error("removed answer returned")
	}
}

func TestPackedAnswers_EvictsOldestInsertion(t *testing.T) {
	p := newPackedAnswers(16 * answerShards) // 16 per shard
	// Keys answerShards apart fall in one shard.
	key := func(i int) numKey { return numKey{1, uint64(380670000000 + i*answerShards)} }
	for i := range 16 {
		if !p.put(key(i), &answer{order: uint16(i)}) {
			t.Fatal("a no-match answer did not pack")
		}
	}
	p.put(key(0), &answer{order: 100}) // put again: now the newest
	p.put(key(16), &answer{})          // evicts the oldest insertion still there: 1, not 0
	if _, ok := p.get(key(1)); ok {
		t.Error("the oldest insertion was kept")
	}
	for _, i := range []int{0, 2, 15, 16} {
		if _, ok := p.get(key(i)); !ok {
			t.Errorf("answer %d evicted", i)
		}
	}
	if a, _ := p.get(key(0)); a.order != 100 {
		t.Errorf("answer 0 has order %d, want the second put's 100", a.order)
	}
	p.remove(key(16))
	p.put(key(1), &answer{}) // back to 16 answers
	// Answers put again in any order, as the lookups of a busy router
	// refresh them, crowd nobody out: the shard is full, not over.
	for round := range 3 {
		for _, i := range rand.Perm(16)[:8] {
			p.put(key(i), &answer{})
		}
		for i := range 16 {
			if _, ok := p.get(key(i)); !ok {
				t.Errorf("round %d: answer %d evicted by refreshes of others", round, i)
			}
		}
	}
	// Bounded: far more puts than room leave at most 16 in the shard.
	for i := range 1000 {
		p.put(key(100+i), &answer{})
	}
	if n := len(p.shard(key(0)).m); n > 16 {
		t.Errorf("%d answers in a shard of 16", n)
	}
	p.purge()
	if _, ok := p.get(key(1099)); ok {
		t.Error("purged answer returned")
	}
}

func TestUserTable(t *testing.T) {
	var u userTable
	for i := range 3 {
		for _, id := range []string{"a", "b", "a", fmt.Sprint(i)} {
			n, ok := u.index(id)
			if !ok || u.name(n) != id {
				t.Errorf("index(%q) = %d, %v; name %q", id, n, ok, u.name(n))
			}
		}
	}
	if n := len(*u.names.Load()); n != 5 { // a, b, 0, 1, 2
		t.Errorf("%d names, want 5", n)
	}
}

// BenchmarkLocalCache_GC measures what 100,000 cached answers cost the
// garbage collector, packed (decimal entity ids) against kept in the LRU
// (ids like Bitrix24's "company:…"), in the same run: the time of a full
// GC cycle with the cache live, and the live heap it holds.
func BenchmarkLocalCache_GC(b *testing.B) {
	for _, tt := range []struct {
		name   string
		entity func(i int) string
	}{
		{"packed", func(i int) string { return fmt.Sprint(41_000_000 + i) }},
		{"lru", func(i int) string { return fmt.Sprint("company:", 41_000_000+i) }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			c := newLocalCache(100_000)
			for i := range 100_000 {
				a := answer{found: true, account: 1, kind: "contact", entityID: tt.entity(i),
					crmUser: fmt.Sprint(8000 + i%500), expires: 1 << 62}
				c.put(keyFor(1, fmt.Sprintf("+38050%07d", i)), &a)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			for b.Loop() {
				runtime.GC()
			}
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "live-MB")
			runtime.KeepAlive(c)
		})
	}
}

// TestPackedShard_Invariants: through random puts and removes, a shard
// stays bounded, every answer's slot holds its key inside the ring's used
// part, and the most recent puts are all there.
func TestPackedShard_Invariants(t *testing.T) {
	p := newPackedAnswers(16 * answerShards)
	sh := &p.shards[0]
	var recent []numKey
	for i := range 20_000 {
		k := numKey{1, uint64(rand.IntN(40) * answerShards)}
		if rand.IntN(10) == 0 {
			p.remove(k)
			recent = slices.DeleteFunc(recent, func(r numKey) bool { return r == k })
			continue
		}
		p.put(k, &answer{order: uint16(i)})
		recent = append(slices.DeleteFunc(recent, func(r numKey) bool { return r == k }), k)
		if len(recent) > 16 {
			recent = recent[1:]
		}
		if len(sh.m) > sh.per {
			t.Fatalf("step %d: %d answers in a shard of %d", i, len(sh.m), sh.per)
		}
		for k, v := range sh.m {
			n := uint32(len(sh.ring))
			if sh.ring[v.slot] != k || (v.slot+n-sh.head)%n >= sh.used {
				t.Fatalf("step %d: %v in slot %d outside the ring's used part or not holding it", i, k, v.slot)
			}
		}
		for _, r := range recent {
			if _, ok := sh.m[r]; !ok {
				t.Fatalf("step %d: one of the last %d puts, %v, was evicted", i, sh.per, r)
			}
		}
	}
}
