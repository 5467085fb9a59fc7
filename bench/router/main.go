// Command router benchmarks `crmsync router` on its cached path against
// Kamailio answering the same table with a stateless htable 302, in one
// run on this machine, with sipp as the PBX. See README.md.
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

type options struct {
	rates     []int
	duration  time.Duration
	callers   int
	split     int
	children  int
	warmRate  int
	probeRate int
	halfRuns  int // half-load runs per system with shared cores
	postgres  string
	redis     string
	noRecords bool
	// resolution is how finely the maximum rate is searched for once a
	// system failed.
	resolution int
}

func main() {
	var o options
	rates := flag.String("rates", "5000,10000,15000,20000,25000,30000,35000,40000,45000,50000", "target calls/s, in rising order")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each step")
	flag.IntVar(&o.callers, "callers", 100_000, "callers (every tenth unknown to the CRM)")
	flag.IntVar(&o.split, "split", 12000, "above this rate two sipp processes share the load")
	flag.IntVar(&o.children, "kamailio-children", 2, "Kamailio UDP worker processes")
	flag.IntVar(&o.warmRate, "warm-rate", 3000, "calls/s of the router's warm-up pass before each step")
	flag.IntVar(&o.probeRate, "probe-rate", 500, "INVITEs/s of the latency probe during the half-load runs")
	flag.IntVar(&o.halfRuns, "half-runs", 3, "half-load runs per system with shared cores (a tail latency from one run is noise)")
	flag.StringVar(&o.postgres, "postgres", "postgres://127.0.0.1:5432/test?sslmode=disable", "PostgreSQL the router uses (a schema is created and dropped)")
	flag.StringVar(&o.redis, "redis", "redis://127.0.0.1:6379", "Redis the router uses (a database 1–15 is claimed and flushed)")
	flag.BoolVar(&o.noRecords, "no-records", false, "diagnostic: make the router's decision records fail at once (no PostgreSQL writes)")
	flag.IntVar(&o.resolution, "resolution", 1000, "calls/s: where a system failed, bisect between its last good rate and the failed one down to this step")
	keep := flag.Bool("keep", false, "keep the work directory with logs and sipp traces")
	flag.Parse()
	for _, r := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			fatalf("bad -rates %q", *rates)
		}
		o.rates = append(o.rates, n)
	}
	if o.resolution <= 0 {
		fatalf("bad -resolution %d", o.resolution)
	}
	if o.halfRuns <= 0 {
		fatalf("bad -half-runs %d", o.halfRuns)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "crmsync-bench-router-")
	if err != nil {
		fatalf("%v", err)
	}
	b := &bench{o: o, dir: dir}
	err = b.run(ctx)
	b.close()
	if !*keep {
		defer os.RemoveAll(dir)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v (work directory %s)\n", err, dir)
		if !*keep {
			os.RemoveAll(dir)
		}
		os.Exit(1)
	}
}

// bench is one run: the router's world, both systems, the results.
type bench struct {
	o           options
	dir         string
	world       *world
	router      *system
	systems     []*system
	metricsAddr string
	warmups     int
	// When the last warm-up passes ran: over every caller, and the last
	// one over the unknown ones (every pass includes them).
	fullStart, fullEnd, unknownEnd time.Time
	peakRSS                        int64
}

func (b *bench) close() {
	for _, s := range b.systems {
		s.stop()
	}
	if b.world != nil {
		b.world.close()
	}
}

func (b *bench) run(ctx context.Context) error {
	if err := ensureTools(); err != nil {
		return err
	}
	if err := b.prepare(ctx); err != nil {
		return err
	}
	var steps []step
	best := map[string]step{}
	lastOK, failedAt := map[string]int{}, map[string]int{}
	for _, rate := range b.o.rates {
		// Both systems at each rate in turn, so load from other processes on
		// the machine hits them alike.
		for _, s := range b.systems {
			if failedAt[s.name] != 0 {
				continue // higher rates would fail too
			}
			st, err := b.measure(ctx, s, rate)
			if err != nil {
				return err
			}
			steps = append(steps, st)
			if !st.ok() {
				failedAt[s.name] = rate
				continue
			}
			lastOK[s.name] = rate
			if st.achieved > best[s.name].achieved {
				best[s.name] = st
			}
		}
	}
	// The ramp's steps are coarse: where a system failed, bisect between
	// its last good rate and the failed one, to -resolution.
	for _, s := range b.systems {
		lo, hi := lastOK[s.name], failedAt[s.name]
		for hi != 0 && hi-lo > b.o.resolution {
			mid := (lo + hi) / 2 / b.o.resolution * b.o.resolution
			if mid <= lo {
				mid = lo + b.o.resolution
			}
			st, err := b.measure(ctx, s, mid)
			if err != nil {
				return err
			}
			st.refined = true
			steps = append(steps, st)
			if !st.ok() {
				hi = mid
				continue
			}
			lo = mid
			if st.achieved > best[s.name].achieved {
				best[s.name] = st
			}
		}
	}
	// Half load, each system with everything sharing both cores
	// (-half-runs times, the systems taking turns), then once with sipp
	// and the probe on CPU 0 and the server on CPU 1.
	var half []step
	for _, pinned := range []bool{false, true} {
		runs := b.o.halfRuns
		if pinned {
			runs = 1
		}
		for run := range runs {
			for _, s := range b.systems {
				bs, ok := best[s.name]
				if !ok {
					continue
				}
				rate := max(1000, int(bs.achieved/2)/1000*1000)
				st, err := b.runStep(ctx, s, stepRun{rate: rate, traceRTT: true, pinned: pinned, run: run})
				if err != nil {
					return err
				}
				report(st)
				half = append(half, st)
			}
		}
	}
	b.peakRSS = procStatus(b.router.cmd.Process.Pid, "VmHWM")
	printTables(os.Stdout, b, steps, best, half)
	return nil
}

// measure runs one step of s at rate. The machine is shared: a step that
// failed while other processes took a good part of a core is noise, not
// the system's limit, so it is tried again (at most twice).
func (b *bench) measure(ctx context.Context, s *system, rate int) (step, error) {
	st, err := b.runStep(ctx, s, stepRun{rate: rate})
	for try := 0; err == nil && try < 2 && !st.ok() && st.otherShare() > noisyLoad; try++ {
		report(st)
		logf("%s at %d/s: other processes used %.0f%% CPU; trying again", s.name, rate, 100*st.otherShare())
		st, err = b.runStep(ctx, s, stepRun{rate: rate})
		st.retried = true
	}
	if err == nil {
		report(st)
	}
	return st, err
}

// prepare builds crmsync, seeds its world, starts both systems, checks
// the router's CRM path on a few callers and writes the injection files.
func (b *bench) prepare(ctx context.Context) error {
	scenario, _ := files.ReadFile("uac.xml")
	if err := os.WriteFile(filepath.Join(b.dir, "uac.xml"), scenario, 0o644); err != nil {
		return err
	}
	if err := writeCallers(filepath.Join(b.dir, "callers.csv"), b.o.callers, "RANDOM"); err != nil {
		return err
	}
	if err := writeCallers(filepath.Join(b.dir, "warm.csv"), b.o.callers, "SEQUENTIAL"); err != nil {
		return err
	}
	if err := writeUnknown(filepath.Join(b.dir, "warm-unknown.csv"), b.o.callers); err != nil {
		return err
	}
	logf("building crmsync")
	bin := filepath.Join(b.dir, "crmsync")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/crmsync")
	build.Dir, build.Stdout, build.Stderr = moduleRoot(), os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build crmsync: %w", err)
	}
	logf("seeding PostgreSQL, Redis and the amoCRM fake (%d callers, %d managers)", b.o.callers, managers)
	var err error
	if b.world, err = openWorld(ctx, b.o.postgres, b.o.redis, b.o.callers); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	b.metricsAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	rlog, err := os.Create(filepath.Join(b.dir, "router.log"))
	if err != nil {
		return err
	}
	if b.router, err = startRouter(ctx, bin, addr, b.world.routerEnv(addr, b.metricsAddr, b.dir), rlog); err != nil {
		return err
	}
	b.systems = append(b.systems, b.router)
	logf("crmsync router listening on %s (metrics on %s)", addr, b.metricsAddr)

	// A few callers through the CRM fake, then everyone else from Redis.
	sample := []int{0, 1, 2, 3, 4, 9, 19, 29}
	skip := map[int]bool{}
	for _, i := range sample {
		skip[i] = true
	}
	if err := b.world.seedRedis(ctx, b.o.callers, skip); err != nil {
		return err
	}
	if err := checkCRMPath(ctx, b.world, addr, sample); err != nil {
		return fmt.Errorf("spot check through the CRM: %w", err)
	}
	logf("spot check: %d callers looked up in the amoCRM fake got the answers seeded in Redis", len(sample))
	if b.o.noRecords {
		if err := b.world.disableRecords(ctx); err != nil {
			return err
		}
		logf("-no-records: route_decisions renamed away; the router's decision records fail at once")
	}

	klog, err := os.Create(filepath.Join(b.dir, "kamailio.log"))
	if err != nil {
		return err
	}
	k, err := startKamailio(ctx, b.dir, ports[2], b.o.callers, b.o.children, klog)
	if err != nil {
		return err
	}
	b.systems = append(b.systems, k)
	logf("kamailio listening on %s", k.addr)
	return nil
}

func report(st step) {
	top, sat := st.sippSaturated()
	note := ""
	if sat {
		note = " (sipp saturated or short of the target)"
	}
	extra := ""
	if st.system == "router" {
		extra = fmt.Sprintf("  cached %.2f%%  records written %.0f dropped %.0f", 100*st.router.cachedShare(), st.router.written, st.router.dropped)
	}
	if st.mode != "" {
		extra += fmt.Sprintf("  [%s] sipp p50/p99 %s/%s probe p50/p99 %s/%s", halfLabel(st), ms(percentile(allRTTs(st), 50)),
			ms(percentile(allRTTs(st), 99)), dur(probeP(st, 50)), dur(probeP(st, 99)))
	}
	logf("%-8s target %6d/s  achieved %8.0f/s  failed %.3f%%  %5.1f µs CPU/call (+%.1f PostgreSQL)  sipp CPU max %3.0f%%  other load %3.0f%%%s%s",
		st.system, st.target, st.achieved, 100*st.failRate, st.usPerCall(st.sysCPU), st.usPerCall(st.pgCPU), 100*top,
		100*st.otherShare(), note, extra)
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

// moduleRoot is the directory of go.mod, where crmsync builds from.
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
