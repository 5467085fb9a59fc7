package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sipClient plays a PBX from one UDP socket: it sends INVITEs, times each
// final answer on the monotonic clock (sipp counts whole milliseconds of
// its own event loop) and ACKs it. It is the spot check's client and the
// latency probe that runs alongside sipp's load.
type sipClient struct {
	conn   *net.UDPConn
	target string
	local  string

	mu      sync.Mutex
	waiting map[string]*pending // by Call-ID
	done    chan struct{}
}

type pending struct {
	sent   time.Time
	answer chan sipAnswer // buffered, 1
}

// sipAnswer is a final response.
type sipAnswer struct {
	status   int
	contacts []string
	rtt      time.Duration
}

func dialSIP(target string) (*sipClient, error) {
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, raddr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(4 << 20)
	c := &sipClient{conn: conn, target: target, local: conn.LocalAddr().String(),
		waiting: map[string]*pending{}, done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *sipClient) close() {
	_ = c.conn.Close()
	<-c.done
}

// invite sends an INVITE from caller to the benchmark's DID and returns
// the channel its final answer arrives on.
func (c *sipClient) invite(callID, caller string) (<-chan sipAnswer, error) {
	p := &pending{answer: make(chan sipAnswer, 1)}
	msg := "INVITE sip:" + did + "@" + c.target + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + c.local + ";branch=z9hG4bK-" + callID + "\r\n" +
		"From: <sip:" + caller + "@127.0.0.1>;tag=" + callID + "\r\n" +
		"To: <sip:" + did + "@" + c.target + ">\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:" + caller + "@" + c.local + ">\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	c.mu.Lock()
	c.waiting[callID] = p
	c.mu.Unlock()
	p.sent = time.Now()
	if _, err := c.conn.Write([]byte(msg)); err != nil {
		c.mu.Lock()
		delete(c.waiting, callID)
		c.mu.Unlock()
		return nil, err
	}
	return p.answer, nil
}

func (c *sipClient) read() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for {
		n, err := c.conn.Read(buf)
		at := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		msg := string(buf[:n])
		status, hdrs := parseResponse(msg)
		if status < 200 {
			continue // 100 Trying, or not a response
		}
		id := hdrs["call-id"]
		c.mu.Lock()
		p := c.waiting[id]
		delete(c.waiting, id)
		c.mu.Unlock()
		if p == nil {
			continue // a retransmission
		}
		p.answer <- sipAnswer{status: status, contacts: contactsOf(msg), rtt: at.Sub(p.sent)}
		ack := "ACK sip:" + did + "@" + c.target + " SIP/2.0\r\nVia: " + hdrs["via"] + "\r\nFrom: " + hdrs["from"] +
			"\r\nTo: " + hdrs["to"] + "\r\nCall-ID: " + id + "\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
		_, _ = c.conn.Write([]byte(ack))
	}
}

// parseResponse returns a SIP response's status and its first header
// values by lower-case name (compact forms are not used by either server).
func parseResponse(msg string) (int, map[string]string) {
	line, rest, _ := strings.Cut(msg, "\r\n")
	if !strings.HasPrefix(line, "SIP/2.0 ") || len(line) < 11 {
		return 0, nil
	}
	status, _ := strconv.Atoi(line[8:11])
	hdrs := map[string]string{}
	for _, h := range strings.Split(rest, "\r\n") {
		if h == "" {
			break
		}
		name, v, ok := strings.Cut(h, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if _, seen := hdrs[name]; ok && !seen {
			hdrs[name] = strings.TrimSpace(v)
		}
	}
	return status, hdrs
}

// contactsOf returns the Contact header values of msg, in order.
func contactsOf(msg string) []string {
	var out []string
	for _, h := range strings.Split(msg, "\r\n") {
		if name, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "contact") {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// probeResult is what the probe measured during one run.
type probeResult struct {
	rtts []time.Duration
	lost int
}

// probe sends rate INVITEs a second from random callers for d, alongside
// whatever load sipp offers, and times each final answer. Calls without
// an answer within 2 s count as lost.
func probe(ctx context.Context, target string, callers, rate int, d time.Duration) (probeResult, error) {
	c, err := dialSIP(target)
	if err != nil {
		return probeResult{}, err
	}
	defer c.close()
	var (
		mu  sync.Mutex
		res probeResult
		wg  sync.WaitGroup
	)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	for n := 0; time.Now().Before(end); n++ {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		ch, err := c.invite(fmt.Sprintf("probe-%d-%d", time.Now().UnixNano(), n), callerNumber(rand.IntN(callers)))
		if err != nil {
			return res, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case a := <-ch:
				mu.Lock()
				res.rtts = append(res.rtts, a.rtt)
				mu.Unlock()
			case <-time.After(2 * time.Second):
				mu.Lock()
				res.lost++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return res, nil
}

// checkCRMPath calls the callers in sample, which seedRedis left out, so
// that the router asks the amoCRM fake, and checks each answer: a known
// caller's 302 names their manager, an unknown one gets 404, and the
// recorded decision names the CRM contact and user the seeded answers
// name.
func checkCRMPath(ctx context.Context, w *world, target string, sample []int) error {
	c, err := dialSIP(target)
	if err != nil {
		return err
	}
	defer c.close()
	var ids []string
	want := map[string]int{}
	for _, i := range sample {
		id := fmt.Sprintf("spot-%d-%d", time.Now().UnixNano(), i)
		ch, err := c.invite(id, callerNumber(i))
		if err != nil {
			return err
		}
		var a sipAnswer
		select {
		case a = <-ch:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("caller %s: no answer in 5 s", callerNumber(i))
		}
		switch {
		case known(i) && (a.status != 302 || len(a.contacts) == 0 || !strings.Contains(a.contacts[0], managerNumber(i))):
			return fmt.Errorf("known caller %s: %d %v, want 302 to %s", callerNumber(i), a.status, a.contacts, managerNumber(i))
		case !known(i) && a.status != 404:
			return fmt.Errorf("unknown caller %s: %d, want 404", callerNumber(i), a.status)
		}
		ids = append(ids, id)
		want[id] = i
	}
	for until := time.Now().Add(5 * time.Second); ; {
		got, err := w.decisions(ctx, ids)
		if err != nil {
			return err
		}
		if len(got) == len(ids) {
			for id, d := range got {
				i := want[id]
				if d.cache != "miss" || (known(i) && (d.entityID != contactID(i) || d.crmUserID != crmUserID(i))) {
					return fmt.Errorf("caller %s recorded %+v, want a CRM lookup naming contact %s of user %s",
						callerNumber(i), d, contactID(i), crmUserID(i))
				}
			}
			return nil
		}
		if time.Now().After(until) {
			return fmt.Errorf("%d of %d spot-check decisions recorded after 5 s", len(got), len(ids))
		}
		time.Sleep(100 * time.Millisecond) // the recorder flushes every 200 ms
	}
}
