package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// strictRate serves the fake CRM's API like amoCRM enforces its limit: at
// most Rate requests in any window of Per (a sliding window over arrival
// times); the rest are answered 429 with Retry-After: 1 and counted. OAuth
// token requests are not API requests and pass.
type strictRate struct {
	Next http.Handler
	Rate int
	Per  time.Duration

	mu       sync.Mutex
	arrivals []time.Time
	ok       int
	rejected int
	all      []time.Time // every served arrival, for -v
	byPath   map[string]int
}

func (s *strictRate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		s.Next.ServeHTTP(w, r)
		return
	}
	now := time.Now()
	s.mu.Lock()
	cut := 0
	for cut < len(s.arrivals) && now.Sub(s.arrivals[cut]) >= s.Per {
		cut++
	}
	s.arrivals = s.arrivals[cut:]
	if len(s.arrivals) >= s.Rate {
		s.rejected++
		s.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"title":"Too Many Requests","status":429,"detail":"rate limit exceeded"}`))
		return
	}
	s.arrivals = append(s.arrivals, now)
	s.all = append(s.all, now)
	s.ok++
	if s.byPath == nil {
		s.byPath = map[string]int{}
	}
	s.byPath[r.Method+" "+r.URL.Path]++
	s.mu.Unlock()
	s.Next.ServeHTTP(w, r)
}

// counts returns the requests served, those rejected, and the served ones
// by method and path.
func (s *strictRate) counts() (ok, rejected int, byPath map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byPath = make(map[string]int, len(s.byPath))
	for k, v := range s.byPath {
		byPath[k] = v
	}
	return s.ok, s.rejected, byPath
}

// gaps returns the pauses between served requests longer than min, as
// offsets from start.
func (s *strictRate) gaps(start time.Time, min time.Duration) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	prev := start
	for _, t := range s.all {
		if d := t.Sub(prev); d > min {
			out = append(out, fmt.Sprintf("%.2fs+%s", prev.Sub(start).Seconds(), d.Round(time.Millisecond)))
		}
		prev = t
	}
	return out
}
