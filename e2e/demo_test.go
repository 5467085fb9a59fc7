package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/store"
)

// The binary under test, built once per test process.
var (
	buildOnce sync.Once
	binary    string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// moduleRoot is the repository's root directory.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func mustBuild(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "crmsync-e2e-"); buildErr != nil {
			return
		}
		binary = filepath.Join(buildDir, "crmsync")
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/crmsync")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// demo is a running `crmsync serve --demo` and what it printed.
type demo struct {
	URL        string // the web role's base URL
	SIPAddr    string
	TenantID   int64
	AdminLogin string
	AdminPass  string
	HeadLogin  string
	HeadPass   string
	Key        string // the tenant's API key
	Secret     string // the tenant's event signing secret
	Sandbox    string // the sandbox CRM's URL
	DB         *store.DB
	// eventsServed: POST /api/v1/events answered (not a 404).
	eventsServed bool

	mu  sync.Mutex
	out bytes.Buffer // stdout and stderr
}

func (d *demo) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// lockedWriter appends to the demo's output.
type lockedWriter struct{ d *demo }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return w.d.out.Write(p)
}

// freePort returns a loopback port nobody listens on (TCP and UDP).
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

const demoSecretKey = "e2e secret key: at least thirty-two characters long"

var demoPatterns = map[string]*regexp.Regexp{
	"tenant":  regexp.MustCompile(`tenant "[^"]*", id (\d+)`),
	"admin":   regexp.MustCompile(`administrator\s+(\S+) \(or \S+\)\s+password (\S+)`),
	"head":    regexp.MustCompile(`department head\s+(\S+)\s+password (\S+)`),
	"key":     regexp.MustCompile(`export CRMSYNC_KEY=(\S+)`),
	"secret":  regexp.MustCompile(`export CRMSYNC_SIGNING_SECRET=(\S+)`),
	"sandbox": regexp.MustCompile(`Sandbox CRM\s+(http://\S+?)/\s`),
}

// startDemo runs `crmsync serve --demo` on free loopback ports with the
// test's database (PostgreSQL when configured, else SQLite) and Redis,
// and waits until it serves.
func startDemo(t *testing.T) *demo {
	t.Helper()
	bin := mustBuild(t)
	dir := t.TempDir()
	d := &demo{}
	httpPort, sipPort := freePort(t), freePort(t)
	d.URL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	d.SIPAddr = fmt.Sprintf("127.0.0.1:%d", sipPort)
	dbURL := "sqlite://" + filepath.Join(dir, "crmsync.db")
	if testenv.CI() || testenv.HasPostgres() {
		dbURL = testenv.PostgresDSN(t)
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRMSYNC_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"CRMSYNC_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort),
		"CRMSYNC_SIP_ADDR="+d.SIPAddr,
		"CRMSYNC_DATA_DIR="+filepath.Join(dir, "data"),
		"CRMSYNC_DATABASE_URL="+dbURL,
		"CRMSYNC_REDIS_URL="+testenv.RedisURL(t),
		"CRMSYNC_SECRET_KEY="+demoSecretKey,
		"CRMSYNC_SYNC_INTERVAL=1h",
	)
	cmd := exec.Command(bin, "serve", "--demo")
	cmd.Env = env
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = lockedWriter{d}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the process has exited
	var exitErr error
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			lockedWriter{d}.Write(append(sc.Bytes(), '\n')) //nolint:errcheck // a buffer
			if !signalled && strings.HasPrefix(strings.TrimSpace(sc.Text()), "-H 'Content-Type: application/json'") {
				signalled = true
				close(ready)
			}
		}
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("crmsync serve --demo output:\n%s", d.output())
		}
	})
	select {
	case <-ready:
	case <-exited:
		if strings.Contains(d.output(), "flag provided but not defined: -demo") {
			notWired(t, "crmsync serve has no --demo flag")
		}
		t.Fatalf("crmsync serve --demo exited: %v\n%s", exitErr, d.output())
	case <-time.After(90 * time.Second):
		t.Fatalf("crmsync serve --demo printed no instructions in 90 s:\n%s", d.output())
	}
	out := d.output()
	m := map[string][]string{}
	for name, re := range demoPatterns {
		if m[name] = re.FindStringSubmatch(out); m[name] == nil {
			t.Fatalf("the demo's output lacks %s (%s):\n%s", name, re, out)
		}
	}
	d.TenantID, _ = strconv.ParseInt(m["tenant"][1], 10, 64)
	d.AdminLogin, d.AdminPass = m["admin"][1], m["admin"][2]
	d.HeadLogin, d.HeadPass = m["head"][1], m["head"][2]
	d.Key, d.Secret, d.Sandbox = m["key"][1], m["secret"][1], m["sandbox"][1]
	waitReady(t, d)

	sealer, err := store.NewSealer(demoSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	if d.DB, err = store.Open(context.Background(), store.Options{URL: dbURL, Sealer: sealer}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.DB.Close() })
	return d
}

// notWired stops a test of a build whose cmd/crmsync lacks the admin and
// demo hooks (roles.go: demoFlag, roleDemo, s.Admin = m.adminConfig(rp)):
// a skip while they are being integrated, a failure in CI.
func notWired(t *testing.T, what string) {
	t.Helper()
	msg := what + ": cmd/crmsync/roles.go lacks the admin and demo hooks (see cmd/crmsync/demo.go and adminweb.go)"
	if testenv.CI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// waitReady polls /readyz until the web role answers.
func waitReady(t *testing.T, d *demo) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(d.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if resp, err := http.Get(d.URL + "/login"); err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						notWired(t, fmt.Sprintf("GET /login answers %d: the web role serves no admin pages", resp.StatusCode))
					}
				}
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the web role did not become ready:\n%s", d.output())
}

// api calls the tenant API and returns the status and body.
func (d *demo) api(t *testing.T, method, path string, body []byte, signed bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, d.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if signed {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(d.Secret))
		mac.Write([]byte(ts + "." + string(body)))
		req.Header.Set("X-Crmsync-Timestamp", ts)
		req.Header.Set("X-Crmsync-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
