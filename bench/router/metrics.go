package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// series is a scrape of the router's /metrics: sample value by
// "name{labels}" as exposed.
type series map[string]float64

// scrape reads the Prometheus text exposition at addr.
func scrape(addr string) (series, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	out := series{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] += v
		}
	}
	return out, sc.Err()
}

// sum adds the samples of metric name whose labels contain every one of
// labels (each as `key="value"`).
func (s series) sum(name string, labels ...string) float64 {
	var t float64
	for k, v := range s {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(k, l)
		}
		if ok {
			t += v
		}
	}
	return t
}

// routerCounts is what the router's metrics say about one step.
type routerCounts struct {
	stateless, transaction float64 // INVITEs answered from the cache / after a lookup
	written, dropped       float64 // decision records
}

func countsOf(s series) routerCounts {
	return routerCounts{
		stateless:   s.sum("crmsync_router_decisions_total", `path="stateless"`),
		transaction: s.sum("crmsync_router_decisions_total", `path="transaction"`),
		written:     s.sum("crmsync_routing_records_total", `result="written"`),
		dropped:     s.sum("crmsync_routing_records_total", `result="dropped"`) + s.sum("crmsync_routing_records_total", `result="failed"`),
	}
}

func (a routerCounts) minus(b routerCounts) routerCounts {
	return routerCounts{a.stateless - b.stateless, a.transaction - b.transaction, a.written - b.written, a.dropped - b.dropped}
}

// cachedShare is the share of INVITEs answered on the stateless cached path.
func (a routerCounts) cachedShare() float64 {
	if n := a.stateless + a.transaction; n > 0 {
		return a.stateless / n
	}
	return 0
}
