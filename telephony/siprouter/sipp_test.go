package siprouter

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/telephony"
)

// requireTool skips the test when a program is missing, naming the Debian
// package that has it; in CI it fails instead.
func requireTool(tb testing.TB, program, pkg string) {
	tb.Helper()
	if _, err := exec.LookPath(program); err != nil {
		if testenv.CI() {
			tb.Fatalf("%s is required in CI: apt-get install -y %s", program, pkg)
		}
		tb.Skipf("%s not found: install it with apt-get install -y %s", program, pkg)
	}
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(tb testing.TB) int {
	tb.Helper()
	// sipp binds its main port in UDP or TCP depending on -t: find one free
	// in both, or a TCP run can collide with some other socket's port.
	for range 50 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		ln.Close()
		if err == nil {
			c.Close()
			return port
		}
	}
	tb.Fatal("no port free in both UDP and TCP")
	return 0
}

// sippRun is one sipp process's outcome.
type sippRun struct {
	exit  int
	stats map[string]string // last line of -trace_stat
	out   string            // screen output and error log, for failure messages
}

func (r sippRun) count(name string) int {
	n, _ := strconv.Atoi(r.stats[name])
	return n
}

// duration parses a sipp time statistic (HH:MM:SS:mmmuuu).
func (r sippRun) duration(name string) time.Duration {
	parts := strings.Split(r.stats[name], ":")
	if len(parts) != 4 {
		return -1
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		n, _ := strconv.Atoi(parts[i])
		d += time.Duration(n) * unit
	}
	us, _ := strconv.Atoi(parts[3])
	return d + time.Duration(us)*time.Microsecond
}

// runSipp runs sipp with a scenario from testdata against target and
// returns its exit status and statistics. extra are more sipp options.
func runSipp(t *testing.T, target, scenario string, extra ...string) sippRun {
	t.Helper()
	dir := t.TempDir()
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	// A port found free can be taken by another process before sipp binds
	// it (go test runs packages in parallel): try again with new ports.
	var cmd *exec.Cmd
	var out []byte
	for attempt := 0; ; attempt++ {
		args := append([]string{target, "-sf", sf, "-i", "127.0.0.1",
			"-p", strconv.Itoa(freeUDPPort(t)), "-cp", strconv.Itoa(freeUDPPort(t)),
			"-nostdin", "-trace_err", "-trace_stat", "-stf", filepath.Join(dir, "stat.csv"), "-fd", "1",
			"-timeout", "30s", "-timeout_error"}, extra...)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd = exec.CommandContext(ctx, "sipp", args...)
		cmd.Dir = dir
		var err error
		out, err = cmd.CombinedOutput()
		cancel()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("sipp: %v\n%s", err, out)
		}
		if attempt < 3 && strings.Contains(string(out), "Address already in use") {
			continue
		}
		break
	}
	run := sippRun{exit: cmd.ProcessState.ExitCode(), out: string(out)}
	if logs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log")); len(logs) > 0 {
		b, _ := os.ReadFile(logs[0])
		run.out += "\nerrors.log:\n" + string(b)
	}
	run.stats = readSippStats(t, filepath.Join(dir, "stat.csv"))
	return run
}

func readSippStats(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.FieldsPerRecord = ';', -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("sipp statistics %s: %v", path, err)
	}
	stats := map[string]string{}
	for i, name := range rows[0] {
		if last := rows[len(rows)-1]; i < len(last) {
			stats[name] = strings.TrimSpace(last[i])
		}
	}
	return stats
}

// sippResolver knows one caller, withholds nothing and is slow for one:
// it answers that one only when its 300 ms "tenant deadline" has passed.
func sippResolver() *fakeResolver {
	return &fakeResolver{
		CachedFn: func(q telephony.RouteQuery) (telephony.Decision, bool) {
			switch q.Caller {
			case knownCaller:
				return routed("+380671110001", "sip:alice@pbx.example.com"), true
			case "+380509990000": // the CRM is slow for this one
				return telephony.Decision{}, false
			}
			return notFound("caller not found in the CRM"), true // a cached negative answer
		},
		ResolveFn: func(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
			select {
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
			}
			return unavailable("the CRM did not answer within the tenant's deadline")
		},
	}
}

// TestSipp drives the router with sipp playing the PBX, over UDP and TCP.
func TestSipp(t *testing.T) {
	requireTool(t, "sipp", "sip-tester")
	s, reg := MustOpenServer(t, sippResolver())
	target := s.UDPAddr().String()
	const calls = "20"

	for _, transport := range []struct{ name, flag string }{{"UDP", "u1"}, {"TCP", "t1"}} {
		tests := []struct {
			name, scenario, caller string
		}{
			{"KnownCaller", "uac_redirect.xml", knownCaller},
			{"UnknownCaller", "uac_fallback.xml", "+380509876543"},
			{"AnonymousCaller", "uac_fallback.xml", "anonymous"},
			{"SlowCRM", "uac_slow.xml", "+380509990000"},
		}
		for _, tt := range tests {
			t.Run(transport.name+"/"+tt.name, func(t *testing.T) {
				run := runSipp(t, target, tt.scenario, "-t", transport.flag, "-m", calls, "-l", calls, "-r", "50",
					"-key", "caller", tt.caller, "-key", "did", "+380441234567", "-recv_timeout", "5s")
				if run.exit != 0 || run.count("SuccessfulCall(C)") != 20 {
					t.Fatalf("sipp exit %d, %d of %s calls successful\n%s", run.exit, run.count("SuccessfulCall(C)"), calls, run.out)
				}
				if tt.scenario == "uac_slow.xml" {
					if rt := run.duration("ResponseTime1(C)"); rt < 0 || rt > 100*time.Millisecond {
						t.Errorf("100 Trying came after %v on average, want at once", rt)
					}
					if rt := run.duration("ResponseTime2(C)"); rt < 250*time.Millisecond {
						t.Errorf("480 came %v after 100 Trying on average, want after the 300ms deadline", rt)
					}
				}
			})
		}
	}
	_ = s.Close() // waits for the lookups, which count after answering
	if n := metricValue(t, reg, "crmsync_router_decisions_total", map[string]string{"path": "transaction"}); n != 40 {
		t.Errorf("answers after a lookup = %v, want 40 (20 slow calls per transport)", n)
	}
}

// TestSipp_Untrusted: sipp from a source outside Trusted gets no answer at
// all and times out; the router counts the drops.
func TestSipp_Untrusted(t *testing.T) {
	requireTool(t, "sipp", "sip-tester")
	s, reg := MustOpenServer(t, sippResolver(), func(s *Server) {
		s.Trusted = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	})

	run := runSipp(t, s.UDPAddr().String(), "uac_redirect.xml", "-m", "3", "-l", "3",
		"-key", "caller", knownCaller, "-key", "did", "+380441234567", "-recv_timeout", "700ms")

	if run.exit == 0 || run.count("FailedCall(C)") != 3 {
		t.Fatalf("sipp exit %d with %d failed calls; want all 3 unanswered\n%s", run.exit, run.count("FailedCall(C)"), run.out)
	}
	// Each INVITE and its retransmission are dropped.
	if n := metricValue(t, reg, "crmsync_router_dropped_total", map[string]string{"reason": "untrusted"}); n < 3 {
		t.Errorf("dropped untrusted = %v, want at least 3", n)
	}
	if n := metricValue(t, reg, "crmsync_router_requests_total", nil); n != 0 {
		t.Errorf("%v requests handled from an untrusted source", n)
	}
}

func ExampleServer() {
	srv := &Server{
		Addr:     "127.0.0.1:0",
		Trusted:  []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}, // the PBX network
		Resolver: sippResolver(),
	}
	if err := srv.Open(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	fmt.Println(srv.UDPAddr().Port() == srv.TCPAddr().Port())
	// Output: true
}
