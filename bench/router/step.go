package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// step is one system at one target rate.
type step struct {
	system   string
	target   int
	mode     string // half-load runs: "shared" or "pinned"
	run      int    // which half-load run of its mode, from 0
	loads    []load
	sysCPU   time.Duration
	pgCPU    time.Duration // every PostgreSQL process
	otherCPU time.Duration // used by processes other than the server, sipp and PostgreSQL
	memory   int64
	memHow   string
	retried  bool    // an earlier try failed while the machine was busy
	refined  bool    // a rate between the ramp's last good and first failed one
	achieved float64 // successful calls per second
	failRate float64 // failed or unanswered calls / created
	router   routerCounts
	probe    probeResult
	heap     int64 // the router's Go heap in use after the step
}

func (s step) ok() bool { return s.failRate < 0.001 }

func (s step) wall() time.Duration {
	if len(s.loads) == 0 {
		return time.Second
	}
	return s.loads[0].wall
}

// otherShare is the CPU other processes on the machine used during the
// step, in cores: the noise in the measurement.
func (s step) otherShare() float64 { return max(0, s.otherCPU.Seconds()/s.wall().Seconds()) }

func (s step) created() (n int) {
	for _, l := range s.loads {
		n += l.created
	}
	return n
}

func (s step) succeeded() (n int) {
	for _, l := range s.loads {
		n += l.ok
	}
	return n
}

// usPerCall is d per answered call, in µs.
func (s step) usPerCall(d time.Duration) float64 {
	if n := s.succeeded(); n > 0 {
		return float64(d.Microseconds()) / float64(n)
	}
	return 0
}

// sippSaturated reports sipp's highest CPU share and whether the client,
// not the server, may have been the limit.
func (s step) sippSaturated() (float64, bool) {
	top := 0.0
	for _, l := range s.loads {
		top = max(top, l.cpuShare())
	}
	return top, top >= 0.9 || s.achieved < 0.95*float64(s.target)
}

// stepRun says how to run one step.
type stepRun struct {
	rate     int
	traceRTT bool // sipp's -trace_rtt and the latency probe
	pinned   bool // sipp and the probe on CPU 0, the server on CPU 1
	run      int  // which run of this mode (half load is measured more than once)
}

// runStep offers rate calls/s to s for the step's duration, split over one
// or two sipp processes, and measures. The router is warmed first.
func (b *bench) runStep(ctx context.Context, s *system, sr stepRun) (step, error) {
	st := step{system: s.name, target: sr.rate}
	if s == b.router {
		if err := b.warm(ctx); err != nil {
			return st, err
		}
	} else {
		// The router writes its decision backlog to PostgreSQL for a minute
		// or more after its own step (see README): stopped, it leaves the
		// machine to the system being measured.
		if err := b.router.signal(syscall.SIGSTOP); err != nil {
			return st, err
		}
		defer func() { _ = b.router.signal(syscall.SIGCONT) }()
		waitQuiet(ctx)
	}
	procs := 1
	if sr.rate > b.o.split {
		procs = 2
	}
	per := sr.rate / procs
	n := per * int(b.o.duration.Seconds())
	tag := fmt.Sprintf("%s-%d", s.name, sr.rate)
	if sr.traceRTT {
		st.mode = "shared"
		if sr.pinned {
			st.mode = "pinned"
		}
		tag += "-half-" + st.mode
		if sr.run > 0 {
			tag += fmt.Sprintf("-run%d", sr.run+1)
		}
		st.run = sr.run
	}
	cpus := ""
	if sr.pinned {
		all := fmt.Sprintf("0-%d", runtime.NumCPU()-1)
		cpus = "0"
		if err := pin("1", processTree(s.cmd.Process.Pid)...); err != nil {
			return st, err
		}
		if err := pin("0", os.Getpid()); err != nil {
			return st, err
		}
		defer func() {
			_ = pin(all, processTree(s.cmd.Process.Pid)...)
			_ = pin(all, os.Getpid())
		}()
	}
	var before routerCounts
	if s.name == "router" {
		m, err := scrape(b.metricsAddr)
		if err != nil {
			return st, err
		}
		before = countsOf(m)
	}
	cpu0, pg0, all0 := s.cpu(), postgresCPU(), machineCPU()
	type result struct {
		l   load
		err error
	}
	results := make(chan result, procs)
	for i := range procs {
		go func() {
			l, err := runSipp(ctx, sippRun{dir: filepath.Join(b.dir, fmt.Sprintf("%s-%d", tag, i)), target: s.addr,
				inf: filepath.Join(b.dir, "callers.csv"), rate: per, n: n, traceRTT: sr.traceRTT, cpus: cpus})
			results <- result{l, err}
		}()
	}
	if sr.traceRTT {
		p, err := probe(ctx, s.addr, b.o.callers, b.o.probeRate, b.o.duration-time.Second)
		if err != nil {
			return st, fmt.Errorf("probe %s: %w", s.name, err)
		}
		st.probe = p
	}
	for range procs {
		r := <-results
		if r.err != nil {
			return st, fmt.Errorf("%s at %d/s: %w", s.name, sr.rate, r.err)
		}
		st.loads = append(st.loads, r.l)
	}
	st.sysCPU = s.cpu() - cpu0
	st.pgCPU = postgresCPU() - pg0
	st.otherCPU = machineCPU() - all0 - st.sysCPU - st.pgCPU
	for _, l := range st.loads {
		st.otherCPU -= l.cpu
	}
	st.memory, st.memHow = s.memory()
	if s.name == "router" {
		time.Sleep(500 * time.Millisecond) // the recorder flushes every 200 ms
		m, err := scrape(b.metricsAddr)
		if err != nil {
			return st, err
		}
		st.router = countsOf(m).minus(before)
		st.heap = int64(m.sum("go_memstats_heap_inuse_bytes"))
	}
	for _, l := range st.loads {
		if l.created > 0 {
			// sipp's own rate of calls created, counting answered calls only.
			st.achieved += l.rate * float64(l.ok) / float64(l.created)
		}
	}
	if c := st.created(); c > 0 {
		// Calls still running when sipp stopped count as failed.
		st.failRate = float64(c-st.succeeded()) / float64(c)
	}
	time.Sleep(time.Second) // let the server's queues drain before the next step
	return st, nil
}

// Local TTLs of the resolver (routing.DefaultLocalTTL and
// DefaultLocalNegativeTTL; CRMSYNC_* cannot change them).
const (
	localTTL         = 5 * time.Minute
	localNegativeTTL = time.Minute
)

// warm makes the router's measured path the cached one. It writes every
// caller's answer into Redis again (a no-match lives there 2 min), then
// calls the callers whose in-process answers would expire before the step
// ends: the unknown ones (localNegativeTTL), and everyone once the last
// full pass nears localTTL. A cached answer is not renewed by a hit, so a
// pass first waits until every answer the previous one stored has
// expired; then all of them are fresh. Then it waits for the misses'
// transactions to end: sipgo keeps a UDP INVITE transaction 5 s after the
// ACK, and while any exists the stateless path takes a lock per call.
// Misses wait on Redis inside a transaction, so the pass runs at
// -warm-rate, well below the cached path's rate.
func (b *bench) warm(ctx context.Context) error {
	full := b.fullEnd.IsZero() || time.Since(b.fullStart) > localTTL-45*time.Second
	inf, n, ready := "warm-unknown.csv", b.o.callers/10, b.unknownEnd.Add(localNegativeTTL+time.Second)
	if full {
		inf, n, ready = "warm.csv", b.o.callers, b.fullEnd.Add(localTTL+time.Second)
	}
	if d := time.Until(ready); d > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	if err := b.world.seedRedis(ctx, b.o.callers, nil); err != nil {
		return fmt.Errorf("seed redis: %w", err)
	}
	b.warmups++
	start := time.Now()
	l, err := runSipp(ctx, sippRun{dir: filepath.Join(b.dir, fmt.Sprintf("warm-%d", b.warmups)), target: b.router.addr,
		inf: filepath.Join(b.dir, inf), rate: b.o.warmRate, n: n})
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	// A call lost to a busy machine leaves one caller cold: the step's
	// "cached path" share shows it. More than that is an error.
	if l.ok < n-n/1000 {
		return fmt.Errorf("warm-up: %d of %d calls answered", l.ok, n)
	} else if l.ok < n {
		logf("warm-up: %d of %d calls answered", l.ok, n)
	}
	b.unknownEnd = time.Now()
	if full {
		b.fullStart, b.fullEnd = start, b.unknownEnd
	}
	for until := time.Now().Add(30 * time.Second); ; {
		m, err := scrape(b.metricsAddr)
		if err != nil {
			return err
		}
		if m.sum("crmsync_router_pending_lookups") == 0 {
			break
		}
		if time.Now().After(until) {
			return fmt.Errorf("warm-up: lookups still pending after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(6 * time.Second)
	return nil
}

// waitQuiet waits, up to 20 s, until PostgreSQL uses less than a tenth
// of a core: the batch of decisions it was writing for the router is done.
func waitQuiet(ctx context.Context) {
	start := time.Now()
	for time.Since(start) < 20*time.Second && ctx.Err() == nil {
		c0 := postgresCPU()
		time.Sleep(time.Second)
		if postgresCPU()-c0 < 100*time.Millisecond {
			if d := time.Since(start); d > 2*time.Second {
				logf("waited %s for PostgreSQL to finish the router's last batch", d.Round(time.Second))
			}
			return
		}
	}
	logf("PostgreSQL still busy after 20 s (other users?); measuring anyway")
}
