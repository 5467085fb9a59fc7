package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
)

// printTables writes the results as Markdown: one summary row per system
// plus the router/Kamailio ratio, then every step.
func printTables(w io.Writer, o options, steps []step, best, half map[string]step) {
	fmt.Fprintf(w, "\n### SIP router vs Kamailio (stateless 302 from a %d-caller table, 10%% unknown)\n\n", o.callers)
	fmt.Fprintf(w, "%d CPUs, %s steps, one sipp process up to %d calls/s and two above.\n\n",
		runtime.NumCPU(), o.duration, o.split)
	fmt.Fprintln(w, "| system | max calls/s (<0.1% failed) | at target | CPU µs/call | p50 / p99 at half load | memory | limited by |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, name := range []string{"router", "kamailio"} {
		b, ok := best[name]
		if !ok {
			fmt.Fprintf(w, "| %s | – (failed at the first rate) | | | | | |\n", name)
			continue
		}
		h := half[name]
		fmt.Fprintf(w, "| %s | %.0f | %d/s | %.1f | %s / %s (at %d/s) | %.0f MB %s | %s |\n",
			name, b.achieved, b.target, b.usPerCall(), ms(percentile(allRTTs(h), 50)),
			ms(percentile(allRTTs(h), 99)), h.target, float64(b.memory)/(1<<20), b.memHow, limit(name, b, steps))
	}
	if r, k := best["router"], best["kamailio"]; r.achieved > 0 && k.achieved > 0 {
		fmt.Fprintf(w, "| **router / kamailio** | **%.2f×** | | %.2f× | | | |\n",
			r.achieved/k.achieved, r.usPerCall()/k.usPerCall())
	}

	fmt.Fprintln(w, "\n| system | target/s | achieved/s | failed | CPU µs/call | server CPU | sipp CPU (each) | other processes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, st := range steps {
		var sipp []string
		for _, l := range st.loads {
			sipp = append(sipp, fmt.Sprintf("%.0f%%", 100*l.cpuShare()))
		}
		wall := st.loads[0].wall.Seconds()
		name := st.system
		if st.retried {
			name += " (retried)"
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %.3f%% | %.1f | %.0f%% | %s | %.0f%% |\n", name, st.target, st.achieved,
			100*st.failRate, st.usPerCall(), 100*st.sysCPU.Seconds()/wall, strings.Join(sipp, ", "), 100*st.otherShare())
	}
}

// limit says what stopped a system's ramp: its own failures at the next
// rate, sipp (saturated or short of the target), or nothing (the last rate).
func limit(name string, b step, steps []step) string {
	next := false
	for _, st := range steps {
		if st.system != name || st.target <= b.target {
			continue
		}
		next = true
		if !st.ok() {
			if top, sat := st.sippSaturated(); sat {
				return fmt.Sprintf("%.1f%% failed at %d/s; sipp at %.0f%% CPU", 100*st.failRate, st.target, 100*top)
			}
			return fmt.Sprintf("%.1f%% failed at %d/s", 100*st.failRate, st.target)
		}
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
