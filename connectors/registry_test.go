package connectors

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// withRegistry runs the test on an empty registry and restores it after.
func withRegistry(t *testing.T) {
	t.Helper()
	mu.Lock()
	saved := registry
	registry = map[string]Info{}
	mu.Unlock()
	t.Cleanup(func() {
		mu.Lock()
		registry = saved
		mu.Unlock()
	})
}

func newNop(Credentials) (Connector, error) { return nil, nil }

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		if s, _ := r.(string); !strings.Contains(s, want) {
			t.Fatalf("panic %v, want one mentioning %q", r, want)
		}
	}()
	f()
}

func TestRegister(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		withRegistry(t)
		Register(Info{Name: "zeta", New: newNop})
		Register(Info{Name: "alpha", DisplayName: "Alpha", New: newNop})
		Register(Info{Name: "mid", New: newNop})
		if diff := cmp.Diff([]string{"alpha", "mid", "zeta"}, Names()); diff != "" {
			t.Errorf("Names() (-want +got):\n%s", diff)
		}
		info, err := Lookup("alpha")
		if err != nil || info.DisplayName != "Alpha" {
			t.Errorf("Lookup(alpha) = %+v, %v", info, err)
		}
	})
	t.Run("PanicDuplicate", func(t *testing.T) {
		withRegistry(t)
		Register(Info{Name: "dup", New: newNop})
		mustPanic(t, "twice", func() { Register(Info{Name: "dup", New: newNop}) })
	})
	t.Run("PanicEmptyName", func(t *testing.T) {
		withRegistry(t)
		mustPanic(t, "Name", func() { Register(Info{New: newNop}) })
	})
	t.Run("PanicNilNew", func(t *testing.T) {
		withRegistry(t)
		mustPanic(t, "New", func() { Register(Info{Name: "x"}) })
	})
}

func TestLookup(t *testing.T) {
	t.Run("ErrUnknown", func(t *testing.T) {
		withRegistry(t)
		_, err := Lookup("nope")
		if err == nil || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("err = %v, want unknown connector", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		withRegistry(t)
		Register(Info{Name: "a", New: newNop})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil && !slices.Contains(Names(), "b") {
				_, _ = Lookup("a")
			}
		}()
		Register(Info{Name: "b", New: newNop})
		<-done
	})
}
