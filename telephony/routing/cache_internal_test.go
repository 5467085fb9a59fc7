package routing

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAnswerEncoding(t *testing.T) {
	for _, a := range []*answer{
		{order: 27},
		{found: true, order: 6, account: 3, kind: "deal", crmUser: "7", entityID: "9003"},
		{found: true, order: 1, account: 12, kind: "contact", crmUser: "", entityID: "company:5|x"},
	} {
		got, err := decodeAnswer(encodeAnswer(a, 1700000000000))
		if err != nil {
			t.Fatalf("%+v: %v", a, err)
		}
		if diff := cmp.Diff(*a, *got, cmp.AllowUnexported(answer{})); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	for _, bad := range []string{"", "2|1|1", "1|1|1|x|deal|7|1", "1|1|1|3|bogus|7|1", "1|1|1|3|deal|7|", "0|1|x"} {
		if _, err := decodeAnswer(bad); err == nil {
			t.Errorf("decodeAnswer(%q) accepted", bad)
		}
	}
}

func TestTombstones(t *testing.T) {
	var ts tombstones
	k := keyFor(1, "+380671234567")
	before := &answer{found: true, account: 3, kind: "lead", entityID: "9", seq: ts.current()}
	ts.add(tombKey{kind: tombEntity, id: 3, a: "lead", b: "9"})
	after := &answer{found: true, account: 3, kind: "lead", entityID: "9", seq: ts.current()}
	other := &answer{found: true, account: 3, kind: "deal", entityID: "9", seq: before.seq}
	if !ts.stale(before, k) || ts.stale(after, k) || ts.stale(other, k) {
		t.Errorf("entity tombstone: before %v after %v other %v", ts.stale(before, k), ts.stale(after, k), ts.stale(other, k))
	}
	noMatch := &answer{seq: ts.current()}
	ts.add(tombKey{kind: tombNoMatch, id: 1})
	if !ts.stale(noMatch, k) || ts.stale(after, k) {
		t.Error("no-match tombstone")
	}
	seq := ts.current()
	ts.dropAll()
	if !ts.stale(after, k) || !ts.tenantStale(1, seq) || ts.tenantStale(1, ts.current()) {
		t.Error("dropAll")
	}
}

func TestE164Digits(t *testing.T) {
	for raw, want := range map[string]uint64{"+380671234567": 380671234567, "+12025550123": 12025550123} {
		if n, ok := e164Digits(raw); !ok || n != want {
			t.Errorf("%s: %d %v", raw, n, ok)
		}
	}
	for _, raw := range []string{"380671234567", "+0671234567", "+38067123456789012", "+380 67", "+1234567", "anonymous"} {
		if _, ok := e164Digits(raw); ok {
			t.Errorf("%s read as E.164", raw)
		}
	}
	if k := keyFor(5, "+380671234567"); k.caller() != "+380671234567" || k.raw != "" {
		t.Errorf("keyFor: %+v", k)
	}
	if k := keyFor(5, "alice"); k.caller() != "alice" || k.num != 0 {
		t.Errorf("keyFor raw: %+v", k)
	}
}
