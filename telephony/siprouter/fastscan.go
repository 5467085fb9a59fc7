package siprouter

import (
	"bytes"
	"strconv"
)

// The fast path's reading of an INVITE (see fastpath.go): which headers,
// and which of their forms, it takes.

// maxFastVias is how many Via headers the fast path takes; an INVITE that
// crossed more proxies goes to the sipgo path.
const maxFastVias = 8

// rawInvite is what the fast path reads from an INVITE: slices of the
// datagram, valid until the next read.
type rawInvite struct {
	uri                    []byte // the Request-URI
	via                    [maxFastVias][]byte
	nvia                   int
	from, to, callID, cseq []byte
	pai, privacy, tenant   []byte
	length                 []byte // Content-Length
	top                    topVia // via[0], read
}

// scanInvite finds an INVITE's headers; ok is false for anything the fast
// path leaves to sipgo.
func scanInvite(data []byte) (r rawInvite, ok bool) {
	line, rest, ok := cutLine(data)
	if !ok || !bytes.HasPrefix(line, []byte("INVITE ")) {
		return r, false
	}
	uri, version, _ := bytes.Cut(line[len("INVITE "):], []byte(" "))
	if len(uri) == 0 || string(version) != "SIP/2.0" {
		return r, false
	}
	r.uri = uri
	for {
		if line, rest, ok = cutLine(rest); !ok {
			return r, false // no blank line: not a whole message
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return r, false // a folded header
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || !printable(value) {
			return r, false
		}
		if name = bytes.TrimRight(name, " \t"); !only(name, &tokenChars) {
			return r, false
		}
		value = bytes.Trim(value, " \t")
		var dst *[]byte
		switch {
		case isHeader(name, "Via", 'v'):
			if r.nvia == maxFastVias {
				return r, false
			}
			via, ok := readVia(value) // a list on one line does not read
			if !ok {
				return r, false
			}
			if r.nvia == 0 {
				r.top = via
			}
			r.via[r.nvia] = value
			r.nvia++
			continue
		case isHeader(name, "From", 'f'):
			dst = &r.from
		case isHeader(name, "To", 't'):
			dst = &r.to
		case isHeader(name, "Call-ID", 'i'):
			if !only(value, &callIDChars) {
				return r, false
			}
			dst = &r.callID
		case isHeader(name, "CSeq", 0):
			dst = &r.cseq
		case isHeader(name, headerPAI, 0):
			if r.pai == nil {
				r.pai = value // the first, as routeQuery reads it
			}
			continue
		case isHeader(name, headerPrivacy, 0):
			r.privacy = value // the last, as routeQuery reads it
			continue
		case isHeader(name, TenantHeader, 0):
			r.tenant = value
			continue
		case isHeader(name, "Content-Length", 'l'):
			dst = &r.length
		default:
			continue
		}
		if *dst != nil || len(value) == 0 {
			return r, false // sent twice, or empty: leave it to sipgo
		}
		*dst = value
	}
	if r.nvia == 0 || len(r.from) == 0 || len(r.to) == 0 || len(r.callID) == 0 || !inviteCSeq(r.cseq) {
		return r, false
	}
	// A body (SDP) only as long as Content-Length says.
	if r.length != nil || len(rest) > 0 {
		if len(r.length) > 5 || !only(r.length, &digitChars) {
			return r, false
		}
		if n, _ := strconv.Atoi(string(r.length)); n != len(rest) {
			return r, false
		}
	}
	return r, true
}

// callIDChars: a Call-ID is a word (RFC 3261 §25.1), without the quote
// and backslash the fast path does not take.
var callIDChars = charClass("-.!%*_+`'~()<>:/[]?{}@")

// printable reports whether v has no control characters but tabs and
// nothing outside ASCII.
func printable(v []byte) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c > '~' {
			return false
		}
	}
	return true
}

// cutLine cuts data at its first CRLF. A bare CR or LF inside the line
// is not taken.
func cutLine(data []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(data, '\n')
	if i < 1 || data[i-1] != '\r' {
		return nil, nil, false
	}
	line = data[:i-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, false
	}
	return line, data[i+1:], true
}

// isHeader reports whether name is the header long (any case) or its
// compact form (RFC 3261 §7.3.3; 0 for none).
func isHeader(name []byte, long string, compact byte) bool {
	if len(name) == 1 {
		return compact != 0 && (name[0]|0x20) == compact
	}
	return len(name) == len(long) && bytes.EqualFold(name, []byte(long))
}

// inviteCSeq reports whether v is "<number> INVITE".
func inviteCSeq(v []byte) bool {
	num, method, ok := bytes.Cut(v, []byte(" "))
	if !ok || len(num) == 0 || len(num) > 10 || string(bytes.TrimLeft(method, " \t")) != "INVITE" {
		return false
	}
	n, err := strconv.ParseUint(string(num), 10, 32) // the conversion does not allocate
	return err == nil && n < 1<<31
}

// Character classes of what the fast path reads (RFC 3261 §25.1, kept
// narrow: anything outside them goes to the sipgo path).
var (
	tokenChars = charClass("-.!%*_+`'~")
	hostChars  = charClass("-.")
	userChars  = charClass("-_.!~*'()&=+$,;?/%")
	paramChars = charClass("-_.!~*'()[]/:&+$%")
	telChars   = charClass("+-.()*#")
)

// charClass is the letters, the digits and extra.
func charClass(extra string) (c [256]bool) {
	for b := '0'; b <= '9'; b++ {
		c[b] = true
	}
	for b := 'a'; b <= 'z'; b++ {
		c[b], c[b-'a'+'A'] = true, true
	}
	for i := 0; i < len(extra); i++ {
		c[extra[i]] = true
	}
	return c
}

// only reports whether b is not empty and every byte of it is in class.
func only(b []byte, class *[256]bool) bool {
	for _, c := range b {
		if !class[c] {
			return false
		}
	}
	return len(b) > 0
}

// validParams reports whether p is `;name[=value]...` without blanks or
// quotes.
func validParams(p []byte) bool {
	for len(p) > 0 {
		if p[0] != ';' {
			return false
		}
		var seg []byte
		seg, p = cutParam(p)
		k, v, hasV := bytes.Cut(seg, []byte("="))
		if !only(k, &tokenChars) || (hasV && !only(v, &paramChars)) {
			return false
		}
	}
	return true
}

// validHostPort reports whether hp is `host[:port]` with a DNS name or
// IPv4 address.
func validHostPort(hp []byte) (host []byte, port int, ok bool) {
	host, ps, hasPort := bytes.Cut(hp, []byte(":"))
	if !only(host, &hostChars) || host[0] == '-' || host[0] == '.' {
		return nil, 0, false
	}
	if hasPort {
		if len(ps) == 0 || len(ps) > 5 || !only(ps, &digitChars) {
			return nil, 0, false
		}
		n, _ := strconv.Atoi(string(ps)) // five digits at most: no allocation
		if n == 0 || n > 65535 {
			return nil, 0, false
		}
		port = n
	}
	return host, port, true
}

var digitChars = func() (c [256]bool) {
	for b := '0'; b <= '9'; b++ {
		c[b] = true
	}
	return c
}()

// nameAddr splits a From/To value, `["display"] <uri>;params`, into its
// URI and its parameters; ok is false for the addr-spec form and anything
// the fast path does not read with certainty.
func nameAddr(v []byte) (uri, params []byte, ok bool) {
	if len(v) > 0 && v[0] == '"' {
		i := 1
		for ; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' {
				i++
			}
		}
		if i >= len(v) {
			return nil, nil, false
		}
		v = bytes.TrimLeft(v[i+1:], " \t")
		if len(v) == 0 || v[0] != '<' {
			return nil, nil, false
		}
	}
	lt := bytes.IndexByte(v, '<')
	if lt < 0 {
		return nil, nil, false
	}
	for _, c := range bytes.TrimRight(v[:lt], " \t") { // a display name of tokens
		if c != ' ' && !tokenChars[c] {
			return nil, nil, false
		}
	}
	v = v[lt+1:]
	gt := bytes.IndexByte(v, '>')
	if gt < 0 || !validParams(v[gt+1:]) {
		return nil, nil, false
	}
	return v[:gt], v[gt+1:], true
}

// uriParts reads a sip:, sips: or tel: URI: its number (as uriNumber reads
// it) and host. ok is false for any other URI and for what sipgo might
// read otherwise (a password, an IPv6 host, URI headers).
func uriParts(uri []byte) (number, host []byte, sipURI, ok bool) {
	scheme, rest, found := bytes.Cut(uri, []byte(":"))
	if !found {
		return nil, nil, false, false
	}
	switch {
	case bytes.EqualFold(scheme, []byte("sip")), bytes.EqualFold(scheme, []byte("sips")):
		hostPart := rest
		if user, h, found := bytes.Cut(rest, []byte("@")); found {
			if !only(user, &userChars) {
				return nil, nil, false, false
			}
			number, _, _ = bytes.Cut(user, []byte(";"))
			hostPart = h
		}
		hp, params := hostPart, []byte(nil)
		if i := bytes.IndexByte(hostPart, ';'); i >= 0 {
			hp, params = hostPart[:i], hostPart[i:]
		}
		if host, _, ok = validHostPort(hp); !ok || !validParams(params) {
			return nil, nil, false, false
		}
		return number, host, true, true
	case bytes.EqualFold(scheme, []byte("tel")):
		number, _, _ := bytes.Cut(rest, []byte(";"))
		if !only(number, &telChars) || !validParams(rest[len(number):]) {
			return nil, nil, false, false
		}
		return number, nil, false, true
	}
	return nil, nil, false, false
}

// cutParam splits `;seg[;rest]` into seg and `[;rest]`.
func cutParam(p []byte) (seg, rest []byte) {
	if i := bytes.IndexByte(p[1:], ';'); i >= 0 {
		return p[1 : 1+i], p[1+i:]
	}
	return p[1:], nil
}

// param returns the value of the parameter name (exact case, as sipgo
// looks it up) in `;a=b;c` (checked by validParams) and whether it is
// there; ok is false when a parameter has name in another case.
func param(params []byte, name string) (value []byte, has, ok bool) {
	for len(params) > 0 {
		var seg []byte
		seg, params = cutParam(params)
		k, v, _ := bytes.Cut(seg, []byte("="))
		switch {
		case string(k) == name:
			if !has {
				value, has = v, true
			}
		case bytes.EqualFold(k, []byte(name)):
			return nil, false, false
		}
	}
	return value, has, true
}

// topVia is what the response needs from the top Via.
type topVia struct {
	host     []byte
	port     int  // 0: none given
	rport    bool // an rport parameter, with a value or not
	rportAt  int  // in the Via value, the end of a valueless rport; 0: none
	received bool
	branch   []byte
}

// readVia reads a Via value `SIP/2.0/UDP host[:port][;params]`.
func readVia(v []byte) (t topVia, ok bool) {
	proto, rest, found := bytes.Cut(v, []byte(" "))
	transport, isSIP := bytes.CutPrefix(proto, []byte("SIP/2.0/"))
	if !found || !isSIP || !only(transport, &tokenChars) {
		return t, false
	}
	rest = bytes.TrimLeft(rest, " \t")
	sentBy, params := rest, []byte(nil)
	if i := bytes.IndexByte(rest, ';'); i >= 0 {
		sentBy, params = rest[:i], rest[i:]
	}
	// Blanks inside, a comment, an IPv6 address: the sipgo path. (sipgo
	// 1.7 loses the host of "host:port ;branch=…" altogether.)
	if t.host, t.port, ok = validHostPort(sentBy); !ok || !validParams(params) {
		return t, false
	}
	for p := params; len(p) > 0; { // checked by validParams
		seg, next := cutParam(p)
		k, val, hasVal := bytes.Cut(seg, []byte("="))
		switch {
		case string(k) == "rport":
			if !t.rport {
				t.rport = true
				if !hasVal {
					t.rportAt = len(v) - len(next) // where the value goes
				}
			}
		case string(k) == "received":
			t.received = true
		case string(k) == "branch":
			if t.branch == nil {
				t.branch = val
			}
		case bytes.EqualFold(k, []byte("rport")), bytes.EqualFold(k, []byte("received")), bytes.EqualFold(k, []byte("branch")):
			return t, false // sipgo looks these up in this case only
		}
		p = next
	}
	return t, true
}
