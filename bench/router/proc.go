package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// system is one SIP server under test, running as a child process group.
type system struct {
	name string
	addr string // 127.0.0.1:port, UDP
	cmd  *exec.Cmd
	// memory reports the system's memory in bytes and how it was measured.
	memory func() (int64, string)
}

// stop ends the system's process group.
func (s *system) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT) // if a step stopped it
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// signal sends sig to the system's main process.
func (s *system) signal(sig syscall.Signal) error { return syscall.Kill(s.cmd.Process.Pid, sig) }

// cpu is the CPU time the system's processes have used so far.
func (s *system) cpu() time.Duration {
	var total time.Duration
	for _, pid := range processTree(s.cmd.Process.Pid) {
		total += procCPU(pid)
	}
	return total
}

// startRouter runs `crmsync router` (the binary run built) with env and
// waits until it answers OPTIONS.
func startRouter(ctx context.Context, bin, addr string, env []string, logf *os.File) (*system, error) {
	cmd := exec.CommandContext(ctx, bin, "router")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start crmsync router: %w", err)
	}
	s := &system{name: "router", addr: addr, cmd: cmd}
	s.memory = func() (int64, string) { return procStatus(cmd.Process.Pid, "VmRSS"), "RSS" }
	if err := waitSIP(addr); err != nil {
		s.stop()
		return nil, fmt.Errorf("crmsync router (log: %s): %w", logf.Name(), err)
	}
	return s, nil
}

// kamailioConfig fills kamailio.cfg.
type kamailioConfig struct {
	Port     int
	Children int
	DBDir    string
}

// startKamailio writes the htable (db_text) and config into dir and runs
// Kamailio in the foreground with the fast allocator.
func startKamailio(ctx context.Context, dir string, port, callers, children int, logf *os.File) (*system, error) {
	db := filepath.Join(dir, "kamailio-db")
	if err := os.MkdirAll(db, 0o755); err != nil {
		return nil, err
	}
	if err := writeHtable(db, callers); err != nil {
		return nil, err
	}
	tmpl, err := template.ParseFS(files, "kamailio.cfg")
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	f, err := os.Create(cfgPath)
	if err != nil {
		return nil, err
	}
	err = tmpl.Execute(f, kamailioConfig{Port: port, Children: children, DBDir: db})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// -b: the same 4 MB receive buffer the router asks for (Kamailio stops
	// probing at 256 KB by default).
	cmd := exec.CommandContext(ctx, "kamailio", "-f", cfgPath, "-DD", "-E", "-x", "fm", "-X", "fm",
		"-m", "256", "-M", "16", "-b", "4194304", "-w", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kamailio: %w", err)
	}
	s := &system{name: "kamailio", addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	s.memory = func() (int64, string) {
		var pss int64
		for _, pid := range processTree(cmd.Process.Pid) {
			pss += procSmaps(pid, "Pss")
		}
		return pss, "PSS, all processes"
	}
	if err := waitSIP(s.addr); err != nil {
		s.stop()
		return nil, fmt.Errorf("kamailio (log: %s): %w", logf.Name(), err)
	}
	return s, nil
}

// writeHtable writes the callers table as htable's db_text schema: the
// same callers and managers the router's CRM and directory hold (env.go).
func writeHtable(db string, callers int) error {
	var b strings.Builder
	b.WriteString("id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)\n")
	for i := range callers {
		if known(i) {
			fmt.Fprintf(&b, "%d:%s:0:0:%s:0\n", i+1, knownCaller(i), managerNumber(i))
		}
	}
	if err := os.WriteFile(filepath.Join(db, "callers"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(db, "version"), []byte("table_name(string) table_version(int)\ncallers:2\n"), 0o644)
}

// waitSIP sends OPTIONS until addr answers, for up to 15 s.
func waitSIP(addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		if err := optionsPing(addr, i); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer OPTIONS: %w", addr, err)
		}
	}
}

func optionsPing(addr string, n int) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ping%d\r\n"+
		"From: <sip:bench@127.0.0.1>;tag=p%d\r\nTo: <sip:%s>\r\nCall-ID: ping-%d\r\nCSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", addr, local, n, n, addr, n)
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 2048)
	k, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:k]), "SIP/2.0 200") {
		return errors.New("unexpected answer: " + strings.SplitN(string(buf[:k]), "\r\n", 2)[0])
	}
	return nil
}

// processTree is pid and its descendants.
func processTree(root int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(pid); len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			parent[pid] = ppid
		}
	}
	tree := []int{root}
	for changed := true; changed; {
		changed = false
		for pid, ppid := range parent {
			if containsInt(tree, ppid) && !containsInt(tree, pid) {
				tree = append(tree, pid)
				changed = true
			}
		}
	}
	return tree
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// procStat returns /proc/pid/stat's fields after the command name: [0] is
// the state (field 3), [1] the ppid, [11] utime, [12] stime.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// machineCPU is the CPU time all processes have used so far, from the
// first line of /proc/stat (user, nice, system, irq, softirq, steal).
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		if i < len(f) {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / clockTick
}

// clockTick is USER_HZ, 100 on Linux.
const clockTick = 100

func procCPU(pid int) time.Duration {
	f := procStat(pid)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / clockTick
}

// procStatus reads a "kB" field of /proc/pid/status, in bytes.
func procStatus(pid int, field string) int64 {
	return kbField(fmt.Sprintf("/proc/%d/status", pid), field)
}

// procSmaps reads a field of /proc/pid/smaps_rollup, in bytes.
func procSmaps(pid int, field string) int64 {
	return kbField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), field)
}

func kbField(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort() (int, error) {
	for range 20 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		_ = u.Close()
		if err == nil {
			_ = t.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// postgresCPU is the CPU time every PostgreSQL server process has used so
// far: the router's decision records cost it, and the machine's other
// users share it.
func postgresCPU() time.Duration {
	var total time.Duration
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(b)) == "postgres" {
			total += procCPU(pid)
		}
	}
	return total
}

// pin sets the CPU affinity of every thread of pids (taskset's list
// syntax, e.g. "1" or "0-1").
func pin(cpus string, pids ...int) error {
	for _, pid := range pids {
		if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
			return fmt.Errorf("taskset %s %d: %v: %s", cpus, pid, err, out)
		}
	}
	return nil
}
