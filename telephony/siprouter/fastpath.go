package siprouter

import (
	"bytes"
	"net/netip"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/crmsync/crmsync/telephony"
)

// The fast path answers a UDP INVITE whose answer is cached straight from
// the datagram's bytes: it finds the few headers a stateless answer needs,
// asks the resolver's cache, and copies the headers into the response.
// sipgo's parser builds a whole sip.Request instead (22 allocations, 1.7
// KB, and a sixth of the router's CPU at 16k calls/s, most of it for
// headers the router never reads).
//
// It takes only plain INVITEs and reads them narrowly: header names,
// URIs, hosts, parameters and Call-IDs must be made of the characters
// RFC 3261 gives them (ASCII only, no quotes or blanks inside), From and
// To need angle brackets, hosts must be names or IPv4 addresses, and a
// body must be as long as Content-Length says. Anything else (folded or
// repeated headers, a Via list on one line, a non-SIP Request-URI …) goes
// to the sipgo path, as does every cache miss, which needs a transaction.
// It does not read the headers its answer does not depend on (Contact,
// Max-Forwards, Content-Type …), where sipgo drops a request with one it
// cannot parse. What it answers, it answers as the sipgo path would:
// TestFastInvite_SameAsSipgo and FuzzFastInvite hold the two to the same
// routing query, the same recorded decision and the same response, header
// by header, to the same address.

// inviteParts is what the answer needs from a scanned INVITE's headers.
type inviteParts struct {
	ruriHost           []byte
	did                []byte // the Request-URI's number, else the To URI's
	caller, callerHost []byte // From's
	fromTag            []byte
	toTagged           bool
}

// parts reads the scanned headers' insides; ok is false when the fast
// path leaves the INVITE to sipgo.
func (r *rawInvite) parts() (p inviteParts, ok bool) {
	ruriNumber, ruriHost, sipRURI, ok := uriParts(r.uri)
	if !ok || !sipRURI || len(ruriHost) == 0 {
		return p, false
	}
	fromURI, fromParams, ok := nameAddr(r.from)
	if !ok {
		return p, false
	}
	toURI, toParams, ok := nameAddr(r.to)
	if !ok {
		return p, false
	}
	if p.fromTag, _, ok = param(fromParams, "tag"); !ok {
		return p, false
	}
	if _, p.toTagged, ok = param(toParams, "tag"); !ok {
		return p, false
	}
	if p.caller, p.callerHost, _, ok = uriParts(fromURI); !ok {
		return p, false
	}
	toNumber, _, _, ok := uriParts(toURI)
	if !ok {
		return p, false
	}
	p.ruriHost, p.did = ruriHost, ruriNumber
	if len(p.did) == 0 {
		p.did = toNumber
	}
	return p, true
}

// query is the routing query, read as routeQuery reads it from a sipgo
// request of a trusted source.
func (r *rawInvite) query(p *inviteParts) (q telephony.RouteQuery, anonymous bool) {
	q = telephony.RouteQuery{CallID: string(r.callID), DID: string(p.did)}
	if len(r.tenant) > 0 {
		q.TenantID = tenantID(string(r.tenant))
	}
	// string(r.pai) and string(r.privacy) allocate only when they were sent.
	q.Caller, anonymous = caller(string(p.caller), bytes.EqualFold(p.callerHost, []byte(anonymousHost)),
		string(r.pai), string(r.privacy))
	return q, anonymous
}

// fastInvite answers a trusted UDP INVITE from src on the fast path. It
// returns false, having sent and counted nothing, when the sipgo path must
// take it: the scan failed, or the resolver's cache has no answer.
func (s *Server) fastInvite(data []byte, src netip.AddrPort) bool {
	start := time.Now()
	r, ok := scanInvite(data)
	if !ok {
		return false
	}
	p, ok := r.parts()
	if !ok {
		return false
	}
	q, anonymous := r.query(&p)
	d, hit := s.Resolver.Cached(q)
	if !hit {
		if !anonymous {
			return false // a lookup, in a transaction: the sipgo path
		}
		d = anonymousDecision(q)
	}
	s.m.request(sip.INVITE)
	if hit {
		s.m.cacheHits.Inc()
	} else {
		s.m.cacheMisses.Inc()
	}

	code, reason := status(d)
	b := buffers.Get().(*bytes.Buffer)
	b.Reset()
	writeFastHead(b, &r, &p, src, code, reason)
	host := ""
	if code == 302 {
		host = s.contactHostOf(string(p.ruriHost))
	}
	writeBody(b, d, code, host)
	err := s.writeUDP(b.Bytes(), replyAddr(src, r.top.rport, r.top.port))
	buffers.Put(b)
	if err != nil {
		s.m.writeErrors.Inc()
		s.log.Debug("sip router: answer not sent", "sip_call_id", q.CallID, "error", err)
		return true
	}
	s.answered(d, q.CallID, pathStateless, time.Since(start))
	return true
}

// writeFastHead writes what writeHead writes, from the scanned INVITE: the
// status line, the Vias (the top one with rport filled in and received
// added, see viaFixes), From, To with the router's tag, Call-ID and CSeq.
func writeFastHead(b *bytes.Buffer, r *rawInvite, p *inviteParts, src netip.AddrPort, code int, reason string) {
	writeStatusLine(b, code, reason)
	b.WriteString("Via: ")
	var hb [64]byte
	srcHost := src.Addr().AppendTo(hb[:0])
	top, via := r.via[0], &r.top
	if via.rportAt > 0 {
		b.Write(top[:via.rportAt])
		b.WriteByte('=')
		b.Write(strconv.AppendUint(b.AvailableBuffer(), uint64(src.Port()), 10))
		b.Write(top[via.rportAt:])
	} else {
		b.Write(top)
	}
	if !via.received && (via.rportAt > 0 || !bytes.Equal(via.host, srcHost)) {
		b.WriteString(";received=")
		b.Write(srcHost)
	}
	b.WriteString("\r\n")
	for _, v := range r.via[1:r.nvia] {
		b.WriteString("Via: ")
		b.Write(v)
		b.WriteString("\r\n")
	}
	b.WriteString("From: ")
	b.Write(r.from)
	b.WriteString("\r\nTo: ")
	b.Write(r.to)
	if !p.toTagged {
		b.WriteString(";tag=")
		writeTag(b, via.branch, r.callID, p.fromTag)
	}
	b.WriteString("\r\nCall-ID: ")
	b.Write(r.callID)
	b.WriteString("\r\nCSeq: ")
	b.Write(r.cseq)
	b.WriteString("\r\n")
}
