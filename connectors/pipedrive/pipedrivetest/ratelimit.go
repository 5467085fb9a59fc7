package pipedrivetest

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// window is one token's burst window.
type window struct {
	start time.Time
	count int
}

// countRequest counts r against its token's window, sets the rate-limit
// headers Pipedrive sends with every answer, and reports whether r is past
// the window (to be answered 429).
func (h *Handler) countRequest(hdr http.Header, r *http.Request) bool {
	limit, size := h.RateLimit, h.RateWindow
	if limit <= 0 {
		limit = DefaultRateLimit
	}
	if size <= 0 {
		size = DefaultRateWindow
	}
	key := strings.TrimSpace(r.Header.Get("Authorization"))
	now := h.now()
	h.mu.Lock()
	win := h.windows[key]
	if win == nil || !now.Before(win.start.Add(size)) {
		win = &window{start: now}
		h.windows[key] = win
	}
	win.count++
	count, end := win.count, win.start.Add(size)
	if count > limit {
		h.overLimit++
	}
	h.mu.Unlock()
	reset := int(math.Ceil(end.Sub(now).Seconds()))
	hdr.Set("x-ratelimit-limit", strconv.Itoa(limit))
	hdr.Set("x-ratelimit-remaining", strconv.Itoa(max(limit-count, 0)))
	hdr.Set("x-ratelimit-reset", strconv.Itoa(max(reset, 1)))
	if count > limit {
		hdr.Set("Retry-After", strconv.Itoa(max(reset, 1)))
		return true
	}
	return false
}

// writeRateLimited answers a request past the window as Pipedrive does.
func writeRateLimited(w http.ResponseWriter) {
	writeError(w, http.StatusTooManyRequests, "Request over limit")
}

// RateLimited returns how many requests were answered 429 because they
// were past the window.
func (h *Handler) RateLimited() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.overLimit
}
