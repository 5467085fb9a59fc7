// Command router benchmarks the SIP router's cached path against Kamailio
// answering the same table with a stateless htable 302, in one run on this
// machine, with sipp as the PBX. See README.md.
//
//	go run ./bench/router
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed uac.xml kamailio.cfg
var files embed.FS

// noisyLoad is the CPU (in cores) other processes may use during a step
// before a failure in it is put down to them.
const noisyLoad = 0.3

// step is one system at one target rate.
type step struct {
	system   string
	target   int
	loads    []load
	sysCPU   time.Duration
	otherCPU time.Duration // used by processes other than the server and sipp
	memory   int64
	memHow   string
	retried  bool    // an earlier try failed while the machine was busy
	achieved float64 // successful calls per second
	failRate float64 // failed or unanswered calls / created
}

func (s step) ok() bool { return s.failRate < 0.001 }

// otherShare is the CPU other processes on the machine used during the
// step, in cores: the noise in the measurement.
func (s step) otherShare() float64 {
	if len(s.loads) == 0 {
		return 0
	}
	return max(0, s.otherCPU.Seconds()/s.loads[0].wall.Seconds())
}

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

// usPerCall is the system's CPU time per answered call.
func (s step) usPerCall() float64 {
	if n := s.succeeded(); n > 0 {
		return float64(s.sysCPU.Microseconds()) / float64(n)
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

type options struct {
	rates    []int
	duration time.Duration
	callers  int
	split    int
	children int
	readers  int
}

func main() {
	var o options
	rates := flag.String("rates", "5000,10000,15000,20000,25000,30000,35000,40000,45000,50000", "target calls/s, in rising order")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each step")
	flag.IntVar(&o.callers, "callers", 100_000, "cached callers in the table")
	flag.IntVar(&o.split, "split", 12000, "above this rate two sipp processes share the load")
	flag.IntVar(&o.children, "kamailio-children", 2, "Kamailio UDP worker processes")
	flag.IntVar(&o.readers, "router-readers", 0, "router UDP reader goroutines (0: GOMAXPROCS)")
	keep := flag.Bool("keep", false, "keep the work directory with logs and sipp traces")
	flag.Parse()
	for _, r := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			fatalf("bad -rates %q", *rates)
		}
		o.rates = append(o.rates, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "crmsync-bench-router-")
	if err != nil {
		fatalf("%v", err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	if err := run(ctx, dir, o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v (work directory %s)\n", err, dir)
		if !*keep {
			os.RemoveAll(dir)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, o options) error {
	if err := ensureTools(); err != nil {
		return err
	}
	scenario, _ := files.ReadFile("uac.xml")
	if err := os.WriteFile(filepath.Join(dir, "uac.xml"), scenario, 0o644); err != nil {
		return err
	}
	if err := writeCallers(filepath.Join(dir, "callers.csv"), o.callers); err != nil {
		return err
	}
	logf("building the router harness")
	harness := filepath.Join(dir, "harness")
	build := exec.CommandContext(ctx, "go", "build", "-o", harness, "./bench/router/harness")
	build.Dir, build.Stdout, build.Stderr = moduleRoot(), os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build harness: %w", err)
	}

	systems, err := startSystems(ctx, dir, harness, o)
	for _, s := range systems {
		defer s.stop()
	}
	if err != nil {
		return err
	}

	var steps []step
	best := map[string]step{}
	failed := map[string]bool{}
	for _, rate := range o.rates {
		// Both systems at each rate in turn, so load from other processes on
		// the machine hits them alike.
		for _, s := range systems {
			if failed[s.name] {
				continue
			}
			st, err := runStep(ctx, dir, s, rate, o, false)
			if err != nil {
				return err
			}
			// The machine is shared: a step that failed while other processes
			// took a good part of a core is noise, not the system's limit, so it
			// is tried again (at most twice) before the ramp ends.
			for try := 0; try < 2 && !st.ok() && st.otherShare() > noisyLoad; try++ {
				report(st)
				logf("%s at %d/s: other processes used %.0f%% CPU; trying again", s.name, rate, 100*st.otherShare())
				if st, err = runStep(ctx, dir, s, rate, o, false); err != nil {
					return err
				}
				st.retried = true
			}
			steps = append(steps, st)
			report(st)
			if !st.ok() {
				failed[s.name] = true // higher rates would fail too
			} else if st.achieved > best[s.name].achieved {
				best[s.name] = st
			}
		}
	}
	half := map[string]step{}
	for _, s := range systems {
		b, ok := best[s.name]
		if !ok {
			continue
		}
		rate := max(1000, int(b.achieved/2)/1000*1000)
		st, err := runStep(ctx, dir, s, rate, o, true)
		if err != nil {
			return err
		}
		report(st)
		half[s.name] = st
	}
	printTables(os.Stdout, o, steps, best, half)
	return nil
}

func startSystems(ctx context.Context, dir, harness string, o options) ([]*system, error) {
	var systems []*system
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	rlog, err := os.Create(filepath.Join(dir, "router.log"))
	if err != nil {
		return nil, err
	}
	r, err := startRouter(ctx, harness, fmt.Sprintf("127.0.0.1:%d", port), o.callers, o.readers, rlog)
	if err != nil {
		return nil, err
	}
	systems = append(systems, r)
	logf("router listening on %s", r.addr)

	if port, err = freePort(); err != nil {
		return systems, err
	}
	klog, err := os.Create(filepath.Join(dir, "kamailio.log"))
	if err != nil {
		return systems, err
	}
	k, err := startKamailio(ctx, dir, port, o.callers, o.children, klog)
	if err != nil {
		return systems, err
	}
	logf("kamailio listening on %s", k.addr)
	return append(systems, k), nil
}

// runStep offers rate calls/s to s for the step's duration, split over one
// or two sipp processes, and measures.
func runStep(ctx context.Context, dir string, s *system, rate int, o options, traceRTT bool) (step, error) {
	procs := 1
	if rate > o.split {
		procs = 2
	}
	per := rate / procs
	n := per * int(o.duration.Seconds())
	tag := fmt.Sprintf("%s-%d", s.name, rate)
	if traceRTT {
		tag += "-half"
	}
	cpu0, all0 := s.cpu(), machineCPU()
	results := make(chan struct {
		l   load
		err error
	}, procs)
	for i := range procs {
		go func() {
			l, err := runSipp(ctx, filepath.Join(dir, fmt.Sprintf("%s-%d", tag, i)), s.addr, per, n, traceRTT)
			results <- struct {
				l   load
				err error
			}{l, err}
		}()
	}
	st := step{system: s.name, target: rate}
	for range procs {
		r := <-results
		if r.err != nil {
			return st, fmt.Errorf("%s at %d/s: %w", s.name, rate, r.err)
		}
		st.loads = append(st.loads, r.l)
	}
	st.sysCPU = s.cpu() - cpu0
	st.otherCPU = machineCPU() - all0 - st.sysCPU
	for _, l := range st.loads {
		st.otherCPU -= l.cpu
	}
	st.memory, st.memHow = s.memory()
	created := st.created()
	for _, l := range st.loads {
		if l.created > 0 {
			// sipp's own rate of calls created, counting answered calls only.
			st.achieved += l.rate * float64(l.ok) / float64(l.created)
		}
	}
	if created > 0 {
		// Calls still running when sipp stopped count as failed.
		st.failRate = float64(created-st.succeeded()) / float64(created)
	}
	time.Sleep(time.Second) // let the server's queues drain before the next step
	return st, nil
}

func report(st step) {
	top, sat := st.sippSaturated()
	note := ""
	if sat {
		note = " (sipp saturated or short of the target)"
	}
	logf("%-8s target %6d/s  achieved %8.0f/s  failed %.3f%%  %5.1f µs CPU/call  sipp CPU max %3.0f%%  other load %3.0f%%%s",
		st.system, st.target, st.achieved, 100*st.failRate, st.usPerCall(), 100*top, 100*st.otherShare(), note)
}

// ensureTools installs sipp (sip-tester) and Kamailio when missing.
func ensureTools() error {
	_, e1 := exec.LookPath("sipp")
	_, e2 := exec.LookPath("kamailio")
	if e1 == nil && e2 == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("install sipp and kamailio first: sudo apt-get install -y sip-tester kamailio")
	}
	logf("installing sip-tester and kamailio")
	for _, args := range [][]string{{"update"}, {"install", "-y", "sip-tester", "kamailio"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	return nil
}

// moduleRoot is the directory of go.mod, where the harness builds from.
func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		return "."
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(2)
}
