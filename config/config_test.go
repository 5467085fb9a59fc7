package config_test

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoad_Defaults(t *testing.T) {
	c, err := config.Load(env(nil), []string{"hubspot"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.SIPAddr != "127.0.0.1:5060" || c.DataDir != "./data" {
		t.Errorf("addresses = %q %q %q", c.HTTPAddr, c.SIPAddr, c.DataDir)
	}
	if c.BaseURL != "http://127.0.0.1:8080" {
		t.Errorf("BaseURL = %q", c.BaseURL)
	}
	if c.DatabaseURL != "" || c.RedisURL != "" || c.SecretKey != "" {
		t.Errorf("embedded defaults expected, got %q %q", c.DatabaseURL, c.RedisURL)
	}
	if diff := cmp.Diff(map[string]int{"critical": 6, "default": 3, "low": 1}, c.Worker.Queues); diff != "" {
		t.Errorf("queues (-want +got):\n%s", diff)
	}
	if len(c.OAuth) != 0 {
		t.Errorf("OAuth = %v, want none", c.OAuth)
	}
}

func TestLoad_Values(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"CRMSYNC_HTTP_ADDR":                   "0.0.0.0:9000",
		"CRMSYNC_BASE_URL":                    "https://crm.example.com/",
		"CRMSYNC_SIP_TRUSTED_CIDRS":           "10.1.2.3/8, 192.168.0.0/16",
		"CRMSYNC_DATABASE_URL":                "postgres://u:p@db/crmsync",
		"CRMSYNC_SECRET_KEY":                  strings.Repeat("k", 32),
		"CRMSYNC_LOG_LEVEL":                   "debug",
		"CRMSYNC_WORKER_CONCURRENCY":          "4",
		"CRMSYNC_QUEUE_WEIGHTS":               "critical=10,default=2,low=1",
		"CRMSYNC_SHUTDOWN_TIMEOUT":            "3s",
		"CRMSYNC_OAUTH_HUBSPOT_CLIENT_ID":     "id",
		"CRMSYNC_OAUTH_HUBSPOT_CLIENT_SECRET": "shh",
	}), []string{"hubspot", "amocrm"})
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "https://crm.example.com" || c.LogLevel != slog.LevelDebug || c.Worker.Concurrency != 4 || c.ShutdownTimeout != 3*time.Second {
		t.Errorf("config = %+v", c)
	}
	if got := fmt.Sprint(c.SIPTrustedCIDRs); got != "[10.0.0.0/8 192.168.0.0/16]" {
		t.Errorf("CIDRs = %s", got)
	}
	if c.OAuth["hubspot"].ClientID != "id" || c.OAuth["hubspot"].ClientSecret.Reveal() != "shh" {
		t.Errorf("OAuth = %+v", c.OAuth)
	}
	if _, ok := c.OAuth["amocrm"]; ok {
		t.Error("amocrm has no credentials and should not be configured")
	}
}

// TestLoad_Errors checks that every bad variable is reported at once,
// each naming the variable and the rule.
func TestLoad_Errors(t *testing.T) {
	_, err := config.Load(env(map[string]string{
		"CRMSYNC_HTTP_ADDR":               "8080",
		"CRMSYNC_SIP_ADDR":                "127.0.0.1:99999",
		"CRMSYNC_BASE_URL":                "crm.example.com",
		"CRMSYNC_SIP_TRUSTED_CIDRS":       "10.0.0.0/8,nope",
		"CRMSYNC_DATABASE_URL":            "mysql://db",
		"CRMSYNC_SECRET_KEY":              "short",
		"CRMSYNC_REDIS_URL":               "localhost:6379",
		"CRMSYNC_LOG_LEVEL":               "loud",
		"CRMSYNC_LOG_FORMAT":              "xml",
		"CRMSYNC_WORKER_CONCURRENCY":      "0",
		"CRMSYNC_QUEUE_WEIGHTS":           "critical=1,fast=2",
		"CRMSYNC_SHUTDOWN_TIMEOUT":        "soon",
		"CRMSYNC_OAUTH_HUBSPOT_CLIENT_ID": "id-without-secret",
		"CRMSYNC_SYNC_INTERVAL":           "5s",
		"CRMSYNC_METRICS_ADDR":            "9091",
		"CRMSYNC_OPS_PASSWORD":            "short",
		"CRMSYNC_OPS_READONLY":            "maybe",
	}), []string{"hubspot"})
	if err == nil {
		t.Fatal("want errors")
	}
	want := []string{
		"CRMSYNC_HTTP_ADDR: must be host:port",
		"CRMSYNC_SIP_ADDR: port must be a number from 0 to 65535",
		"CRMSYNC_BASE_URL: must be an absolute http(s) URL",
		`CRMSYNC_SIP_TRUSTED_CIDRS: "nope" is not a CIDR`,
		"CRMSYNC_DATABASE_URL: scheme must be postgres:// or sqlite://",
		"CRMSYNC_SECRET_KEY: must be at least 32 characters",
		"CRMSYNC_REDIS_URL: must be redis://",
		"CRMSYNC_LOG_LEVEL: must be debug, info, warn or error",
		"CRMSYNC_LOG_FORMAT: must be text or json",
		"CRMSYNC_WORKER_CONCURRENCY: must be a whole number",
		`CRMSYNC_QUEUE_WEIGHTS: unknown queue "fast"`,
		"CRMSYNC_SHUTDOWN_TIMEOUT: must be a duration",
		"CRMSYNC_OAUTH_HUBSPOT_CLIENT_ID: and CRMSYNC_OAUTH_HUBSPOT_CLIENT_SECRET must be set together",
		"CRMSYNC_SYNC_INTERVAL: must be a duration from 1m to 24h",
		"CRMSYNC_METRICS_ADDR: must be host:port",
		"CRMSYNC_OPS_PASSWORD: must be at least",
		"CRMSYNC_OPS_READONLY: must be true or false",
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q; got:\n%v", w, err)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", n, len(want), err)
	}
}

func TestLoad_PostgresNeedsSecretKey(t *testing.T) {
	_, err := config.Load(env(map[string]string{"CRMSYNC_DATABASE_URL": "postgres://db/x"}), nil)
	if err == nil || !strings.Contains(err.Error(), "CRMSYNC_SECRET_KEY: is required") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecret_NeverPrints(t *testing.T) {
	s := config.Secret("hunter2-hunter2")
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "secret", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), buf.String(),
		fmt.Sprintf("%+v", config.Config{SecretKey: s})} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if s.Reveal() != "hunter2-hunter2" {
		t.Error("Reveal lost the value")
	}
}

// TestREADME_ConfigTable fails when README's configuration table and
// config.Vars disagree.
func TestREADME_ConfigTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(CRMSYNC_[A-Z0-9_<>]+)` \\| ([^|]*) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = strings.Trim(strings.TrimSpace(m[2]), "`")
	}
	var names []string
	for _, v := range config.Vars {
		names = append(names, v.Name)
		def, ok := documented[v.Name]
		if !ok {
			t.Errorf("README's configuration table lacks %s", v.Name)
			continue
		}
		if def != v.Default {
			t.Errorf("README says %s defaults to %q, config says %q", v.Name, def, v.Default)
		}
	}
	for name := range documented {
		if !slices.Contains(names, name) {
			t.Errorf("README documents %s, which config does not read", name)
		}
	}
}
