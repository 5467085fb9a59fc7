package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/testenv"
)

// buildBinary compiles crmsync once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "crmsync")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServe_EndToEnd runs the real binary on the embedded defaults (SQLite
// in a temporary data dir, in-process Redis): creates a tenant with the CLI,
// departments and employees over HTTP, checks /readyz, then stops it with
// SIGTERM and expects a clean exit.
func TestServe_EndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped in -short mode")
	}
	bin := buildBinary(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	env := append(os.Environ(), "CRMSYNC_DATA_DIR="+dataDir, "CRMSYNC_HTTP_ADDR="+addr, "CRMSYNC_SIP_ADDR="+freeAddr(t),
		"CRMSYNC_DATABASE_URL=", "CRMSYNC_REDIS_URL=", "CRMSYNC_SECRET_KEY=")

	create := exec.Command(bin, "tenant", "create", "--name", "Acme", "--prefix", "19079", "--region", "UA", "--tz", "Europe/Kyiv")
	create.Env = env
	out, err := create.Output()
	if err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	var tenant struct {
		ID     int64  `json:"id"`
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &tenant); err != nil || tenant.ID == 0 || !strings.HasPrefix(tenant.APIKey, "csk_") {
		t.Fatalf("tenant create printed %q (%v)", out, err)
	}

	var logs bytes.Buffer
	serve := exec.Command(bin) // serve is the default
	serve.Env = env
	serve.Stderr = &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	t.Cleanup(func() {
		serve.Process.Kill()
		if t.Failed() {
			t.Logf("serve logs:\n%s", logs.String())
		}
	})

	base := "http://" + addr
	waitReady(t, base+"/readyz", done)

	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tenant.APIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var v map[string]any
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &v)
		return resp.StatusCode, v
	}
	status, dept := call("POST", "/api/v1/departments", `{"name":"Sales","extension":"200"}`)
	if status != http.StatusCreated {
		t.Fatalf("create department: %d %v", status, dept)
	}
	status, emp := call("POST", "/api/v1/employees", fmt.Sprintf(
		`{"email":"Ivan@Acme.example","full_name":"Иван Петров","department_id":%v,"main_contacts":["067 123 45 67"]}`, dept["id"]))
	if status != http.StatusCreated {
		t.Fatalf("create employee: %d %v", status, emp)
	}
	if emp["login"] != "19079_ivan" || emp["email"] != "ivan@acme.example" {
		t.Errorf("employee = %v; want login 19079_ivan and a lowercased email", emp)
	}
	if mc, _ := emp["main_contacts"].([]any); len(mc) != 1 || mc[0] != "+380671234567" {
		t.Errorf("main_contacts = %v, want [+380671234567]", emp["main_contacts"])
	}
	status, bad := call("POST", "/api/v1/employees", `{"email":"olga@mail.ru","full_name":"Olga"}`)
	if errObj, _ := bad["error"].(map[string]any); status != http.StatusBadRequest || errObj["field"] != "email" {
		t.Errorf(".ru email: %d %v, want 400 on field email", status, bad)
	}
	status, tn := call("GET", "/api/v1/tenant", "")
	if seats, _ := tn["seats"].(map[string]any); status != 200 || seats["active"] != float64(1) {
		t.Errorf("tenant: %d %v, want 1 active seat", status, tn)
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of SIGTERM")
	}
	if !strings.Contains(logs.String(), "in-process Redis for trying out") {
		t.Errorf("the embedded Redis start-up line is missing from the logs")
	}
}

// waitReady polls url until it answers 200, failing if the process exits.
func waitReady(t *testing.T, url string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("process exited before it was ready: %v", err)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // polling a process we do not control
	}
	t.Fatalf("%s not ready within 60 s", url)
}

// TestRun_Usage checks exit codes and messages of bad invocations.
func TestRun_Usage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		status int
		output string
	}{
		{"Help", []string{"--help"}, nil, 0, "Commands:"},
		{"CommandHelp", []string{"tenant", "create", "--help"}, nil, 0, "--prefix"},
		{"Version", []string{"version"}, nil, 0, "crmsync dev"},
		{"UnknownCommand", []string{"frobnicate"}, nil, 2, `unknown command "frobnicate"`},
		{"BadFlag", []string{"web", "--nope"}, nil, 2, "flag provided but not defined"},
		{"BadConfig", []string{"web"}, map[string]string{"CRMSYNC_HTTP_ADDR": "nope", "CRMSYNC_LOG_LEVEL": "loud"}, 2,
			"CRMSYNC_HTTP_ADDR: must be host:port"},
		{"TenantNoName", []string{"tenant", "create"}, nil, 2, "name: is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CRMSYNC_DATA_DIR", t.TempDir())
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out bytes.Buffer
			status := run(ctx, tc.args, &out, &out)
			if status != tc.status || !strings.Contains(out.String(), tc.output) {
				t.Errorf("run(%q) = %d, output:\n%s\nwant status %d and %q", tc.args, status, out.String(), tc.status, tc.output)
			}
		})
	}
}

// TestSplitRole_RefusesStaleSchema: a split role on an unmigrated database
// says to run crmsync migrate.
func TestSplitRole_RefusesStaleSchema(t *testing.T) {
	t.Setenv("CRMSYNC_DATA_DIR", t.TempDir())
	t.Setenv("CRMSYNC_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("CRMSYNC_REDIS_URL", testenv.RedisURL(t))
	var out bytes.Buffer
	status := run(context.Background(), []string{"web"}, &out, &out)
	if status != 1 || !strings.Contains(out.String(), "run `crmsync migrate`") {
		t.Fatalf("web on an empty database = %d:\n%s", status, out.String())
	}
	out.Reset()
	if status := run(context.Background(), []string{"migrate"}, &out, &out); status != 0 {
		t.Fatalf("migrate = %d:\n%s", status, out.String())
	}
}
