package siprouter

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// writeHead writes the status line and the headers a response copies from
// its request (RFC 3261 §8.2.6.2): every Via in order (the top one with
// received/rport, see viaFixes), From, To with the router's tag, Call-ID
// and CSeq. It writes the parsed headers itself rather than through
// sipgo's StringWrite, which allocates (it parses every host as an IP).
func writeHead(b *bytes.Buffer, req *sip.Request, code int, reason string) {
	writeStatusLine(b, code, reason)
	top := true
	for _, h := range req.Headers() {
		v, ok := h.(*sip.ViaHeader)
		if !ok {
			continue
		}
		b.WriteString("Via: ")
		b.WriteString(v.ProtocolName)
		b.WriteByte('/')
		b.WriteString(v.ProtocolVersion)
		b.WriteByte('/')
		b.WriteString(v.Transport)
		b.WriteByte(' ')
		writeHost(b, v.Host)
		writePort(b, v.Port)
		if top {
			received, rport := viaFixes(req)
			writeParams(b, v.Params, rport != "")
			if rport != "" {
				b.WriteString(";rport=")
				b.WriteString(rport)
			}
			if received != "" {
				b.WriteString(";received=")
				b.WriteString(received)
			}
			top = false
		} else {
			writeParams(b, v.Params, false)
		}
		b.WriteString("\r\n")
	}
	from := req.From()
	b.WriteString("From: ")
	writeAddress(b, from.DisplayName, &from.Address, from.Params)
	b.WriteString("\r\nTo: ")
	to := req.To()
	writeAddress(b, to.DisplayName, &to.Address, to.Params)
	if !to.Params.Has("tag") && code != 100 {
		b.WriteString(";tag=")
		writeToTag(b, req)
	}
	b.WriteString("\r\nCall-ID: ")
	b.WriteString(req.CallID().Value())
	b.WriteString("\r\nCSeq: ")
	cseq := req.CSeq()
	b.Write(strconv.AppendUint(b.AvailableBuffer(), uint64(cseq.SeqNo), 10))
	b.WriteByte(' ')
	b.WriteString(string(cseq.MethodName))
	b.WriteString("\r\n")
}

// writeStatusLine writes "SIP/2.0 <code> <reason>" and its CRLF.
func writeStatusLine(b *bytes.Buffer, code int, reason string) {
	b.WriteString("SIP/2.0 ")
	b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(code), 10))
	b.WriteByte(' ')
	b.WriteString(reason)
	b.WriteString("\r\n")
}

// viaFixes is what RFC 3261 §18.2.1 and RFC 3581 add to the top Via of a
// response: rport= filled in with the source port when the client asked
// for it, and received= with the source address when the client asked for
// rport or when the sent-by host is not the packet's source. Empty strings
// mean nothing to add; fixVia applies the same to the request itself.
func viaFixes(req *sip.Request) (received, rport string) {
	via := req.Via()
	host, port := sourceHostPort(req)
	if host == "" {
		return "", ""
	}
	if v, ok := via.Params.Get("rport"); ok && v == "" {
		rport = port
	}
	if !via.Params.Has("received") && (rport != "" || via.Host != host) {
		received = host
	}
	return received, rport
}

// writeAddress writes a name-addr: ["display"] <uri>;params.
func writeAddress(b *bytes.Buffer, display string, u *sip.Uri, params sip.HeaderParams) {
	if display != "" {
		b.WriteByte('"')
		b.WriteString(display)
		b.WriteString(`" `)
	}
	b.WriteByte('<')
	writeURI(b, u)
	b.WriteByte('>')
	writeParams(b, params, false)
}

// writeURI writes a URI as sipgo parsed it: other schemes (tel:) as their
// raw text, sip:/sips: from their parts.
func writeURI(b *bytes.Buffer, u *sip.Uri) {
	if u.Scheme == "" {
		b.WriteString("sip")
	} else {
		b.WriteString(u.Scheme)
	}
	b.WriteByte(':')
	if raw := u.Raw(); raw != "" {
		b.WriteString(raw)
		return
	}
	if u.HierarhicalSlashes {
		b.WriteString("//")
	}
	if u.User != "" {
		b.WriteString(u.User)
		if u.Password != "" {
			b.WriteByte(':')
			b.WriteString(u.Password)
		}
		b.WriteByte('@')
	}
	writeHost(b, u.Host)
	writePort(b, u.Port)
	writeParams(b, u.UriParams, false)
	for i, kv := range u.Headers {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(kv.K)
		b.WriteByte('=')
		b.WriteString(kv.V)
	}
}

// writeHost writes a host, bracketing an IPv6 address.
func writeHost(b *bytes.Buffer, host string) {
	if strings.IndexByte(host, ':') >= 0 && !strings.HasPrefix(host, "[") {
		b.WriteByte('[')
		b.WriteString(host)
		b.WriteByte(']')
		return
	}
	b.WriteString(host)
}

func writePort(b *bytes.Buffer, port int) {
	if port > 0 {
		b.WriteByte(':')
		b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(port), 10))
	}
}

// writeParams writes ;key[=value] for each parameter, quoting values with
// blanks as sipgo does; skipRport leaves out a valueless rport that the
// caller writes with its value.
func writeParams(b *bytes.Buffer, params sip.HeaderParams, skipRport bool) {
	for _, kv := range params {
		if skipRport && kv.K == "rport" && kv.V == "" {
			continue
		}
		b.WriteByte(';')
		b.WriteString(kv.K)
		switch {
		case kv.V == "":
		case strings.ContainsAny(kv.V, " \t"):
			b.WriteString(`="`)
			b.WriteString(kv.V)
			b.WriteByte('"')
		default:
			b.WriteByte('=')
			b.WriteString(kv.V)
		}
	}
}

// writeToTag writes the router's To tag for req: a hash of the top Via
// branch, Call-ID and From tag, so a retransmitted request, answered
// statelessly again, gets the same tag (RFC 3261 §8.2.6.2 wants one tag
// for all responses to a request).
func writeToTag(b *bytes.Buffer, req *sip.Request) {
	branch, _ := req.Via().Params.Get("branch")
	fromTag, _ := req.From().Params.Get("tag")
	writeTag(b, branch, req.CallID().Value(), fromTag)
}

// writeTag writes the To tag of a request with this top Via branch,
// Call-ID and From tag (FNV-1a over the three, as 16 hex digits).
func writeTag[T string | []byte](b *bytes.Buffer, branch, callID, fromTag T) {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	mix := func(s T) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime
		}
		h ^= 0xff
		h *= prime
	}
	mix(branch)
	mix(callID)
	mix(fromTag)
	const hex = "0123456789abcdef"
	var t [16]byte
	for i := range t {
		t[i] = hex[h>>(60-4*i)&0xf]
	}
	b.Write(t[:])
}

// toTag is writeToTag as a string, for sipgo responses.
func toTag(req *sip.Request) string {
	var b bytes.Buffer
	writeToTag(&b, req)
	return b.String()
}
