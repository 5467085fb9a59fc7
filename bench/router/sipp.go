package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// runSipp runs one sipp UAC process against target at rate calls/s for
// n calls and reads its statistics.
func runSipp(ctx context.Context, dir, target string, rate, n int, traceRTT bool) (load, error) {
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
		"-inf", filepath.Join(dir, "..", "callers.csv"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-cp", strconv.Itoa(ctrl),
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(n), "-l", "30000",
		"-recv_timeout", "2s", "-timeout", strconv.Itoa(secs+20) + "s",
		"-buff_size", "4194304", "-max_socket", "100", "-nostdin",
		"-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "1",
	}
	if traceRTT {
		args = append(args, "-trace_rtt", "-rtt_freq", "500")
	}
	out, err := os.Create(filepath.Join(dir, "sipp.out"))
	if err != nil {
		return load{}, err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, "sipp", args...)
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
	if traceRTT {
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

// percentile returns the p-th percentile (0–100) of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return -1
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}

// writeCallers writes sipp's injection file: 100k calls in random order,
// every tenth from a caller the table does not know.
func writeCallers(path string, callers int) error {
	var b strings.Builder
	b.WriteString("RANDOM\n")
	for i := range callers {
		caller := knownCaller(i)
		if i%10 == 9 {
			caller = fmt.Sprintf("+38099%07d", i)
		}
		fmt.Fprintf(&b, "%s;+380441234567\n", caller)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// knownCaller is the harness's and the htable's caller i.
func knownCaller(i int) string { return fmt.Sprintf("+38050%07d", i) }
