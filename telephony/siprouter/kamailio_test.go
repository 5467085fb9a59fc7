package siprouter

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/crmsync/crmsync/telephony"
)

// TestKamailio is a whole call: a caller (sipp UAC) reaches Kamailio, the
// PBX's proxy; Kamailio asks the router, follows its 302 and delivers the
// call to the responsible manager's phone (a sipp UAS), which must get the
// INVITE and finish the call.
func TestKamailio(t *testing.T) {
	requireTool(t, "sipp", "sip-tester")
	requireTool(t, "kamailio", "kamailio")
	uasPort := freeUDPPort(t)
	r := tableResolver(map[string]telephony.Decision{
		knownCaller: routed(fmt.Sprintf("sip:manager@127.0.0.1:%d", uasPort)),
	})
	s, reg := MustOpenServer(t, r)
	kamailio := MustStartKamailio(t, s.UDPAddr().String())

	uas := startSipp(t, "uas_manager.xml", "-p", strconv.Itoa(uasPort), "-m", "1")
	waitUDPBound(t, uasPort)

	run := runSipp(t, kamailio, "uac_call.xml", "-m", "1", "-recv_timeout", "10s",
		"-key", "caller", knownCaller, "-key", "did", "+380441234567", "-key", "uas_port", strconv.Itoa(uasPort))
	if run.exit != 0 {
		t.Fatalf("caller: sipp exit %d\n%s", run.exit, run.out)
	}
	if err := uas.wait(); err != nil {
		t.Fatalf("manager's phone: %v", err)
	}
	_ = s.Close()
	if n := metricValue(t, reg, "crmsync_router_decisions_total", map[string]string{"outcome": "routed"}); n != 1 {
		t.Errorf("routed decisions = %v, want 1", n)
	}
}

// kamailioConfig fills testdata/kamailio_proxy.cfg.tmpl.
type kamailioConfig struct {
	Port   int
	Router string // host:port
}

// MustStartKamailio runs Kamailio in the foreground with the proxy config
// and returns its address once it answers OPTIONS.
func MustStartKamailio(tb testing.TB, router string) string {
	tb.Helper()
	dir := tb.TempDir()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "kamailio_proxy.cfg.tmpl"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := kamailioConfig{Port: freeUDPPort(tb), Router: router}
	var b strings.Builder
	if err := tmpl.Execute(&b, cfg); err != nil {
		tb.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	logPath := filepath.Join(dir, "kamailio.log")
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("kamailio", "-f", cfgPath, "-DD", "-E", "-x", "fm", "-X", "fm",
		"-m", "32", "-M", "4", "-w", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers die with it
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{}) // closed when Kamailio has exited; then waitErr is set
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = logf.Close()
		if tb.Failed() {
			out, _ := os.ReadFile(logPath)
			tb.Logf("kamailio log:\n%s", out)
		}
	})

	addr := fmt.Sprintf("127.0.0.1:%d", cfg.Port)
	deadline := time.Now().Add(15 * time.Second)
	for !answersOptions(addr) {
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			tb.Fatalf("kamailio exited: %v\n%s", waitErr, out)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("kamailio does not answer on %s", addr)
		}
	}
	return addr
}

// answersOptions sends one OPTIONS and waits briefly for any answer.
func answersOptions(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	req := request{Method: "OPTIONS", URI: "sip:" + addr,
		Via: "SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bK-ping;rport"}
	if _, err := c.Write([]byte(req.text())); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := c.Read(make([]byte, 2048))
	return err == nil && n > 0
}

// sippProcess is a sipp running in the background.
type sippProcess struct {
	done chan error
	out  *strings.Builder
}

// startSipp starts sipp with a scenario from testdata and no remote (a UAS).
func startSipp(tb testing.TB, scenario string, args ...string) *sippProcess {
	tb.Helper()
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		tb.Fatal(err)
	}
	args = append([]string{"-sf", sf, "-i", "127.0.0.1", "-cp", strconv.Itoa(freeUDPPort(tb)),
		"-nostdin", "-timeout", "30s", "-timeout_error"}, args...)
	cmd := exec.Command("sipp", args...)
	cmd.Dir = tb.TempDir()
	p := &sippProcess{done: make(chan error, 1), out: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill() // no-op once it has exited
		<-p.done
	})
	return p
}

// wait waits for sipp to exit; an error tells its exit status and output.
func (p *sippProcess) wait() error {
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			return fmt.Errorf("%w\n%s", err, p.out.String())
		}
		return nil
	case <-time.After(40 * time.Second):
		return errors.New("sipp did not finish")
	}
}

// waitUDPBound polls until a child process has bound port.
func waitUDPBound(tb testing.TB, port int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			return // taken: the child is listening
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			tb.Fatalf("nothing listens on udp port %d", port)
		}
		time.Sleep(10 * time.Millisecond) // polling a child process
	}
}
