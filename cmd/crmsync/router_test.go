package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/config"
	"github.com/crmsync/crmsync/telephony"
)

// TestRouter_Invite runs the router role on the embedded defaults (SQLite,
// in-process Redis) and sends it an INVITE over UDP for a tenant's number
// from a caller no CRM knows: the answer is the tenant's fallback, and the
// decision is recorded for the call.
func TestRouter_Invite(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.SIPAddr = freeAddr(t)
	m := &Main{Config: cfg, Roles: []role{roleRouter}, Migrate: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Run(ctx); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	tn, _, err := m.DB.CreateTenant(ctx, telephony.NewTenant{Name: "Acme", Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.DB.CreateNumber(ctx, tn.ID, telephony.NumberInput{Number: "+380441234567"}); err != nil {
		t.Fatal(err)
	}

	conn, err := net.Dial("udp", cfg.SIPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	invite := strings.ReplaceAll(fmt.Sprintf("INVITE sip:+380441234567@%[1]s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-router-test\n"+
		"Max-Forwards: 70\n"+
		"To: <sip:+380441234567@%[1]s>\n"+
		"From: <sip:+380671234567@%[2]s>;tag=1928301774\n"+
		"Call-ID: router-test-1@%[2]s\n"+
		"CSeq: 1 INVITE\n"+
		"Contact: <sip:caller@%[2]s>\n"+
		"Content-Length: 0\n\n", cfg.SIPAddr, local), "\n", "\r\n")
	if _, err := conn.Write([]byte(invite)); err != nil {
		t.Fatal(err)
	}
	// 100 Trying first (a cache miss waits on the lookup), then the answer.
	buf := make([]byte, 4096)
	var final string
	for final == "" {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no final answer: %v", err)
		}
		if line, _, _ := strings.Cut(string(buf[:n]), "\r\n"); !strings.HasPrefix(line, "SIP/2.0 1") {
			final = line
		}
	}
	if final != "SIP/2.0 404 Not Found" {
		t.Errorf("answer %q, want the tenant's not_found fallback", final)
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		d, _, err := m.DB.DecisionByCallID(ctx, tn.ID, "router-test-1@"+local)
		if err == nil {
			if d.Outcome != telephony.OutcomeFallback || d.Caller != "+380671234567" || d.DID != "+380441234567" {
				t.Errorf("recorded %+v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("decision not recorded: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // the recorder flushes every 200 ms: poll with a deadline
	}
}
