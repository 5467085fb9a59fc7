package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// printTables writes the results as Markdown: one summary row per system
// plus the router/Kamailio ratio, the half-load latency runs, then every
// step.
func printTables(w io.Writer, b *bench, steps []step, best map[string]step, half []step) {
	o := b.o
	fmt.Fprintf(w, "\n### `crmsync router` vs Kamailio (stateless 302, %d callers, 10%% unknown to the CRM)\n\n", o.callers)
	fmt.Fprintf(w, "%d CPUs, %s steps, one sipp process up to %d calls/s and two above; the router warmed before each step.\n\n",
		runtime.NumCPU(), o.duration, o.split)
	if o.noRecords {
		fmt.Fprint(w, "**Diagnostic run (-no-records): the router's decision records failed at once instead of being written.**\n\n")
	}
	fmt.Fprintln(w, "| system | max calls/s (<0.1% failed) | at target | CPU µs/call | PostgreSQL µs/call | p50 / p99 at half load (probe, shared cores) | p50 / p99 (probe, pinned) | p99 as sipp counts it | memory | limited by |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, name := range []string{"router", "kamailio"} {
		bs, ok := best[name]
		if !ok {
			fmt.Fprintf(w, "| %s | – (failed at the first rate) | | | | | | | | |\n", name)
			continue
		}
		hs, hp := halfRuns(half, name, "shared"), halfRuns(half, name, "pinned")
		mem := fmt.Sprintf("%.0f MB %s", float64(bs.memory)/(1<<20), bs.memHow)
		if name == "router" {
			mem += fmt.Sprintf(", Go heap %.0f MB (peak RSS %.0f MB, warm-ups included)", float64(bs.heap)/(1<<20), float64(b.peakRSS)/(1<<20))
		}
		var perRun []string
		for _, st := range hs {
			perRun = append(perRun, fmt.Sprintf("%.2f", float64(probeP(st, 99))/float64(time.Millisecond)))
		}
		target := 0
		if len(hs) > 0 {
			target = hs[0].target
		}
		fmt.Fprintf(w, "| %s | %.0f | %d/s | %.1f | %.1f | %s / %s (at %d/s; p99 per run %s ms) | %s / %s | %s | %s | %s |\n",
			name, bs.achieved, bs.target, bs.usPerCall(bs.sysCPU), bs.usPerCall(bs.pgCPU),
			dur(pooledP(hs, 50)), dur(pooledP(hs, 99)), target, strings.Join(perRun, ", "), dur(pooledP(hp, 50)), dur(pooledP(hp, 99)),
			ms(pooledSipp(hs, 99)), mem, limit(name, bs, steps))
	}
	if r, k := best["router"], best["kamailio"]; r.achieved > 0 && k.achieved > 0 {
		fmt.Fprintf(w, "| **router / kamailio** | **%.2f×** | | %.2f× | | | | | | |\n",
			r.achieved/k.achieved, r.usPerCall(r.sysCPU)/k.usPerCall(k.sysCPU))
	}

	fmt.Fprintln(w, "\nHalf load: sipp offers the load (its -trace_rtt counts whole milliseconds of its own event loop);")
	fmt.Fprintf(w, "the probe sends %d INVITEs/s more and times each answer on the monotonic clock. With shared cores each\n", o.probeRate)
	fmt.Fprintf(w, "system runs %d times, the systems taking turns; the summary pools the runs' probe times.\n\n", o.halfRuns)
	fmt.Fprintln(w, "| system | cores | rate/s | failed | probe calls | probe p50 / p90 / p99 / max | sipp p50 / p99 | server CPU | sipp CPU | other |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, st := range half {
		fmt.Fprintf(w, "| %s | %s | %d | %.3f%% | %d (%d lost) | %s / %s / %s / %s | %s / %s | %.0f%% | %s | %.0f%% |\n",
			st.system, halfLabel(st), st.target, 100*st.failRate, len(st.probe.rtts), st.probe.lost,
			dur(probeP(st, 50)), dur(probeP(st, 90)), dur(probeP(st, 99)), dur(probeP(st, 100)),
			ms(percentile(allRTTs(st), 50)), ms(percentile(allRTTs(st), 99)),
			100*st.sysCPU.Seconds()/st.wall().Seconds(), sippCPU(st), 100*st.otherShare())
	}

	fmt.Fprintln(w, "\n| system | target/s | achieved/s | failed | CPU µs/call | server CPU | PostgreSQL CPU | sipp CPU (each) | other processes | cached path | decisions recorded / dropped |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, st := range steps {
		name := st.system
		if st.retried {
			name += " (retried)"
		}
		if st.refined {
			name += " (refined)"
		}
		cached, rec := "", ""
		if st.system == "router" {
			cached = fmt.Sprintf("%.2f%%", 100*st.router.cachedShare())
			rec = fmt.Sprintf("%.0f / %.0f", st.router.written, st.router.dropped)
		}
		wall := st.wall().Seconds()
		fmt.Fprintf(w, "| %s | %d | %.0f | %.3f%% | %.1f | %.0f%% | %.0f%% | %s | %.0f%% | %s | %s |\n", name, st.target, st.achieved,
			100*st.failRate, st.usPerCall(st.sysCPU), 100*st.sysCPU.Seconds()/wall, 100*st.pgCPU.Seconds()/wall,
			sippCPU(st), 100*st.otherShare(), cached, rec)
	}
}

// halfRuns returns name's half-load runs in mode, in order.
func halfRuns(half []step, name, mode string) []step {
	var out []step
	for _, st := range half {
		if st.system == name && st.mode == mode {
			out = append(out, st)
		}
	}
	return out
}

// halfLabel names a half-load run: its mode, and its number after the first.
func halfLabel(st step) string {
	if st.run == 0 {
		return st.mode
	}
	return fmt.Sprintf("%s, run %d", st.mode, st.run+1)
}

// pooledP is the p-th percentile (0–100) of the probe's response times
// over runs; -1 without any.
func pooledP(runs []step, p float64) time.Duration {
	var pool step
	for _, st := range runs {
		pool.probe.rtts = append(pool.probe.rtts, st.probe.rtts...)
	}
	return probeP(pool, p)
}

// pooledSipp is the p-th percentile of sipp's response times over runs.
func pooledSipp(runs []step, p float64) float64 {
	var xs []float64
	for _, st := range runs {
		xs = append(xs, allRTTs(st)...)
	}
	return percentile(xs, p)
}

func sippCPU(st step) string {
	var out []string
	for _, l := range st.loads {
		out = append(out, fmt.Sprintf("%.0f%%", 100*l.cpuShare()))
	}
	return strings.Join(out, ", ")
}

// limit says what stopped a system's ramp: its own failures at the lowest
// failed rate above its best, sipp (saturated or short of the target), or
// nothing (the last rate).
func limit(name string, b step, steps []step) string {
	var failed *step
	next := false
	for i, st := range steps {
		if st.system != name || st.target <= b.target || st.mode != "" {
			continue
		}
		next = true
		if !st.ok() && (failed == nil || st.target < failed.target) {
			failed = &steps[i]
		}
	}
	if failed != nil {
		if top, sat := failed.sippSaturated(); sat {
			return fmt.Sprintf("%.1f%% failed at %d/s; sipp at %.0f%% CPU", 100*failed.failRate, failed.target, 100*top)
		}
		return fmt.Sprintf("%.1f%% failed at %d/s", 100*failed.failRate, failed.target)
	}
	if top, sat := b.sippSaturated(); sat {
		return fmt.Sprintf("sipp (%.0f%% CPU, %.0f of %d/s)", 100*top, b.achieved, b.target)
	}
	if !next {
		return "highest rate tried"
	}
	return "–"
}

func allRTTs(st step) []float64 {
	var xs []float64
	for _, l := range st.loads {
		xs = append(xs, l.rtts...)
	}
	return xs
}

// probeP is the p-th percentile (0–100) of the probe's response times;
// -1 without any.
func probeP(st step, p float64) time.Duration {
	xs := make([]float64, len(st.probe.rtts))
	for i, d := range st.probe.rtts {
		xs[i] = float64(d)
	}
	return time.Duration(percentile(xs, p))
}

// ms formats a sipp response time; sipp counts whole milliseconds.
func ms(v float64) string {
	switch {
	case v < 0:
		return "n/a"
	case v < 1:
		return "<1 ms"
	}
	return fmt.Sprintf("%.0f ms", v)
}

// dur formats a probe response time.
func dur(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// percentile returns the p-th percentile (0–100) of xs, -1 when empty.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return -1
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(p/100*float64(len(s)-1))]
}
