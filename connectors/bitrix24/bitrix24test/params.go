package bitrix24test

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxRequest bounds a request body.
const maxRequest = 4 << 20

// pair is one request parameter with a PHP-style key: fields[ENTITY_ID],
// filter[ID][0], cmd[r0].
type pair struct{ key, val string }

// params are a request's parameters in the order sent (batch runs its
// commands in that order). Bitrix24 takes the query, a form body or a
// JSON body alike; all become pairs.
type params []pair

// readParams reads the query and the body of r.
func readParams(r *http.Request) (params, error) {
	p, err := parseForm(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	if r.Body == nil {
		return p, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest))
	if err != nil {
		return nil, err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var more params
	switch {
	case len(body) == 0:
	case mt == "application/json":
		more, err = parseJSON(body)
	default:
		more, err = parseForm(string(body))
	}
	return append(p, more...), err
}

// parseForm parses a query string, numbering PHP's key[] appends.
func parseForm(s string) (params, error) {
	var out params
	counts := map[string]int{}
	for part := range strings.SplitSeq(s, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad parameter %q", part)
		}
		if i := strings.Index(key, "[]"); i >= 0 {
			n := counts[key[:i]]
			counts[key[:i]]++
			key = key[:i] + "[" + strconv.Itoa(n) + "]" + key[i+2:]
		}
		out = append(out, pair{key, val})
	}
	return out, nil
}

// parseJSON flattens a JSON object into PHP-style pairs, in order.
func parseJSON(b []byte) (params, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out params
	if err := flatten(dec, "", &out); err != nil {
		return nil, fmt.Errorf("bad JSON body: %w", err)
	}
	return out, nil
}

func flatten(dec *json.Decoder, prefix string, out *params) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	name := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "[" + k + "]"
	}
	switch t := tok.(type) {
	case json.Delim:
		for i := 0; dec.More(); i++ {
			k := strconv.Itoa(i)
			if t == '{' {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k = kt.(string)
			}
			if err := flatten(dec, name(k), out); err != nil {
				return err
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	case string:
		*out = append(*out, pair{prefix, t})
	case json.Number:
		*out = append(*out, pair{prefix, t.String()})
	case bool:
		*out = append(*out, pair{prefix, strconv.FormatBool(t)})
	case nil:
		*out = append(*out, pair{prefix, ""})
	}
	return nil
}

// get returns the last value of key (case-insensitive), or "".
func (p params) get(key string) string {
	v := ""
	for _, kv := range p {
		if strings.EqualFold(kv.key, key) {
			v = kv.val
		}
	}
	return v
}

// sub returns the pairs under key[…], with "key[name]" cut to "name":
// sub("filter") of filter[ID][0]=5 is ID[0]=5.
func (p params) sub(key string) params {
	var out params
	for _, kv := range p {
		if len(kv.key) <= len(key) || !strings.EqualFold(kv.key[:len(key)], key) || kv.key[len(key)] != '[' {
			continue
		}
		inner := kv.key[len(key)+1:]
		end := strings.IndexByte(inner, ']')
		if end < 0 {
			continue
		}
		out = append(out, pair{inner[:end] + inner[end+1:], kv.val})
	}
	return out
}

// list returns the values of key: key itself, or key[0], key[1]….
func (p params) list(key string) []string {
	var out []string
	for _, kv := range p.sub(key) {
		out = append(out, kv.val)
	}
	if len(out) == 0 {
		if v := p.get(key); v != "" {
			out = []string{v}
		}
	}
	return out
}

// int returns key as an integer, or def.
func (p params) int(key string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(p.get(key))); err == nil {
		return n
	}
	return def
}

// flag reads key as a Bitrix24 boolean: true, Y or 1.
func (p params) flag(key string) bool {
	switch strings.ToUpper(p.get(key)) {
	case "TRUE", "Y", "1":
		return true
	}
	return false
}
