package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/web"
)

type intakeResult struct {
	Clients, Batch    int
	Duration          time.Duration
	Requests, Events  int64
	Failed            int64
	P50, P99          time.Duration
	Stored, Tasks     int
	EventsPerSecond   float64
	RequestsPerSecond float64
}

// runIntake posts signed events from clients goroutines for seconds, each
// event a new call (the heaviest case: a call row and an event row each),
// through the real HTTP server, store and enqueuer.
func runIntake(dsn, redisURL string, clients, batch, seconds int) (intakeResult, error) {
	ctx := context.Background()
	res := intakeResult{Clients: clients, Batch: batch}
	db, closeDB, err := openStore(ctx, dsn)
	if err != nil {
		return res, err
	}
	defer closeDB()
	rURL, rdb, err := redisDB13(ctx, redisURL)
	if err != nil {
		return res, err
	}
	defer rdb.Close()
	opt, err := asynq.ParseRedisURI(rURL)
	if err != nil {
		return res, err
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	tn, creds, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Intake", Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		return res, err
	}
	db.SQL().SetMaxOpenConns(2 * clients)
	db.SQL().SetMaxIdleConns(2 * clients)
	events := &web.Events{Calls: db, Queue: &jobs.Enqueuer{Client: client}}
	srv := httptest.NewServer(events.Handler(db))
	defer srv.Close()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}

	var requests, accepted, failed atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	stop := time.Now().Add(time.Duration(seconds) * time.Second)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for n := 0; time.Now().Before(stop); n++ {
				body := intakeBody(tn.ID, c, n, batch)
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				req, _ := http.NewRequest("POST", srv.URL+"/api/v1/events", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+creds.APIKey)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(web.HeaderTimestamp, ts)
				req.Header.Set(web.HeaderSignature, web.Sign(creds.SigningSecret, ts, body))
				t0 := time.Now()
				resp, err := httpc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				var ans struct {
					Accepted int `json:"accepted"`
				}
				err = json.NewDecoder(resp.Body).Decode(&ans)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				requests.Add(1)
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				accepted.Add(int64(ans.Accepted))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Duration = time.Since(start)
	res.Requests, res.Events, res.Failed = requests.Load(), accepted.Load(), failed.Load()
	slices.Sort(latencies)
	if len(latencies) > 0 {
		res.P50, res.P99 = latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	}
	res.EventsPerSecond = float64(res.Events) / res.Duration.Seconds()
	res.RequestsPerSecond = float64(res.Requests) / res.Duration.Seconds()
	if err := db.SQL().GetContext(ctx, &res.Stored, db.SQL().Rebind(`SELECT COUNT(*) FROM call_events WHERE tenant_id = ?`), tn.ID); err != nil {
		return res, err
	}
	res.Tasks = int(rdb.LLen(ctx, "asynq:{critical}:pending").Val())
	return res, nil
}

// intakeBody is one request's events: call.finished events of new calls.
func intakeBody(tenantID int64, client, n, batch int) []byte {
	evs := make([]map[string]any, batch)
	for i := range evs {
		evs[i] = map[string]any{"call_id": fmt.Sprintf("t%d-c%d-%d-%d", tenantID, client, n, i), "kind": "call.finished",
			"seq": 3, "occurred_at": "2025-03-04T10:01:05Z", "direction": "inbound", "caller": "+380671112233",
			"callee": "+380441234567", "duration_s": 60, "answered": true, "recording_url": "https://pbx.example/rec/1.mp3"}
	}
	var v any = evs[0]
	if batch > 1 {
		v = map[string]any{"events": evs}
	}
	b, _ := json.Marshal(v)
	return b
}

func (r intakeResult) report(w io.Writer) bool {
	ok := r.Failed == 0 && int64(r.Stored) == r.Events && r.EventsPerSecond >= intakeTarget
	verdict := "OK"
	switch {
	case r.Failed > 0 || int64(r.Stored) != r.Events:
		verdict = "FAILED CHECKS"
	case r.EventsPerSecond < intakeTarget:
		verdict = fmt.Sprintf("under the %d/s target", intakeTarget)
	}
	fmt.Fprintf(w, "intake: %d clients, %d event(s) per signed POST /api/v1/events, PostgreSQL + Redis, %s\n",
		r.Clients, r.Batch, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  %.0f events/s accepted (%.0f requests/s; p50 %s, p99 %s) (%s)\n",
		r.EventsPerSecond, r.RequestsPerSecond, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), verdict)
	fmt.Fprintf(w, "  %d events accepted, %d stored, %d delivery tasks queued, %d failed requests\n",
		r.Events, r.Stored, r.Tasks, r.Failed)
	return ok
}
