package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// load is one sipp process's share of a step.
type load struct {
	created, ok, failed int
	rate                float64 // calls created per second, as sipp counted
	wall                time.Duration
	cpu                 time.Duration // sipp's own user+system time
	rtts                []float64     // response times in ms, when traced
}

// cpuShare is sipp's CPU use as a fraction of one core.
func (l load) cpuShare() float64 { return l.cpu.Seconds() / l.wall.Seconds() }

// sippRun is one sipp UAC process's job.
type sippRun struct {
	dir, target string
	inf         string // injection file
	rate, n     int    // calls/s, calls
	traceRTT    bool
	cpus        string // taskset CPU list; empty: not pinned
}

// runSipp runs one sipp UAC process and reads its statistics.
func runSipp(ctx context.Context, r sippRun) (load, error) {
	dir, target, rate, n := r.dir, r.target, r.rate, r.n
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return load{}, err
	}
	port, err := freePort()
	if err != nil {
		return load{}, err
	}
	ctrl, err := freePort()
	if err != nil {
		return load{}, err
	}
	secs := n/rate + 1
	args := []string{target,
		"-sf", filepath.Join(dir, "..", "uac.xml"),
		"-inf", r.inf,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-cp", strconv.Itoa(ctrl),
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(n), "-l", "30000",
		"-recv_timeout", "2s", "-timeout", strconv.Itoa(secs+20) + "s",
		"-buff_size", "4194304", "-max_socket", "100", "-nostdin",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "1",
	}
	if r.traceRTT {
		args = append(args, "-trace_rtt", "-rtt_freq", "500")
	}
	name := "sipp"
	if r.cpus != "" {
		name, args = "taskset", append([]string{"-c", r.cpus, "sipp"}, args...)
	}
	out, err := os.Create(filepath.Join(dir, "sipp.out"))
	if err != nil {
		return load{}, err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, name, args...) // taskset execs sipp: one process
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	start := time.Now()
	runErr := cmd.Run()
	l := load{wall: time.Since(start)}
	if cmd.ProcessState == nil {
		return l, fmt.Errorf("sipp: %w", runErr)
	}
	l.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	// Exit status 1 means some calls failed: that is a result, not an error.
	if code := cmd.ProcessState.ExitCode(); code != 0 && code != 1 {
		return l, fmt.Errorf("sipp exited with %d (see %s)", code, out.Name())
	}
	stats, err := lastStats(filepath.Join(dir, "stat.csv"))
	if err != nil {
		return l, err
	}
	l.created, l.ok, l.failed = int(stats["TotalCallCreated"]), int(stats["SuccessfulCall(C)"]), int(stats["FailedCall(C)"])
	l.rate = stats["CallRate(C)"]
	if r.traceRTT {
		l.rtts, err = readRTTs(dir)
	}
	return l, err
}

// lastStats reads the numeric columns of the last line of a -trace_stat file.
func lastStats(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: no statistics", path)
	}
	stats := map[string]float64{}
	last := rows[len(rows)-1]
	for i, name := range rows[0] {
		if i < len(last) {
			if v, err := strconv.ParseFloat(strings.TrimSpace(last[i]), 64); err == nil {
				stats[name] = v
			}
		}
	}
	return stats, nil
}

// readRTTs reads the response times sipp's -trace_rtt wrote into dir, in
// ms (sipp measures whole milliseconds).
func readRTTs(dir string) ([]float64, error) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	var rtts []float64
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Split(sc.Text(), ";")
			if len(fields) < 2 {
				continue
			}
			if v, err := strconv.ParseFloat(fields[1], 64); err == nil {
				rtts = append(rtts, v)
			}
		}
		f.Close()
	}
	return rtts, nil
}

// writeCallers writes sipp's injection file: callers calls in random
// order (RANDOM), or each caller once in turn (SEQUENTIAL, the warm-up);
// every tenth caller is unknown to the CRM (callerNumber).
func writeCallers(path string, callers int, order string) error {
	var b strings.Builder
	b.WriteString(order + "\n")
	for i := range callers {
		fmt.Fprintf(&b, "%s;%s\n", callerNumber(i), did)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeUnknown writes a SEQUENTIAL injection file of the unknown callers.
func writeUnknown(path string, callers int) error {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for i := range callers {
		if !known(i) {
			fmt.Fprintf(&b, "%s;%s\n", callerNumber(i), did)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// knownCaller is the CRM's and the htable's caller i.
func knownCaller(i int) string { return fmt.Sprintf("+38050%07d", i) }
