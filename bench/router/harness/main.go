// Command harness runs a siprouter.Server for the router benchmark, with an
// in-memory resolver holding a table of cached callers, until it is
// interrupted. bench/router starts it; it is not meant to be run by hand.
//
// Caller i (0 ≤ i < -callers) is +38050%07d and is routed to the manager
// +38067%07d (i mod 500); any other caller gets a cached not_found
// fallback, as a resolver's negative cache would answer it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/telephony/siprouter"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5060", "listen address (UDP and TCP)")
	callers := flag.Int("callers", 100_000, "cached callers")
	readers := flag.Int("readers", 0, "UDP reader goroutines (0: GOMAXPROCS)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "harness:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	r := newTable(*callers)
	srv := &siprouter.Server{
		Addr:       *addr,
		Resolver:   r,
		UDPReaders: *readers,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if err := srv.Open(); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
	// The orchestrator waits for this line before sending calls.
	fmt.Printf("listening %s\n", srv.UDPAddr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	_ = srv.Close()
}

// table is a read-only resolver: a map filled before the server starts.
type table struct {
	routes   map[string]telephony.Decision
	fallback telephony.Decision
}

func newTable(n int) *table {
	t := &table{
		routes: make(map[string]telephony.Decision, n),
		fallback: telephony.Decision{
			Outcome:  telephony.OutcomeFallback,
			Fallback: telephony.FallbackNotFound,
			Reason:   "caller not found in the CRM",
			Cache:    telephony.CacheLocal,
		},
	}
	for i := range n {
		t.routes[fmt.Sprintf("+38050%07d", i)] = telephony.Decision{
			Outcome:  telephony.OutcomeRouted,
			Contacts: []string{fmt.Sprintf("+38067%07d", i%500)},
			Reason:   "responsible manager of the caller's lead",
			Caller:   fmt.Sprintf("+38050%07d", i),
			Cache:    telephony.CacheLocal,
		}
	}
	return t
}

// Cached answers every caller: the table or the negative fallback.
func (t *table) Cached(q telephony.RouteQuery) (telephony.Decision, bool) {
	if d, ok := t.routes[q.Caller]; ok {
		return d, true
	}
	return t.fallback, true
}

// Resolve is never reached: Cached always answers.
func (t *table) Resolve(_ context.Context, q telephony.RouteQuery) telephony.Decision {
	d, _ := t.Cached(q)
	return d
}
