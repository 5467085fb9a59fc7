package siprouter

import (
	"bytes"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/crmsync/crmsync/telephony"
)

// allow lists the methods the router answers, for Allow headers.
const allow = "INVITE, ACK, CANCEL, OPTIONS"

// reasonHeader carries the decision's reason to the PBX, for debugging
// calls from its logs.
const reasonHeader = "X-Crmsync-Reason"

// maxReason bounds the reason header's length.
const maxReason = 120

// qValues are the Contact q-values in order: the first contact is tried
// first; from the tenth on they all get 0.1.
var qValues = [...]string{"1.0", "0.9", "0.8", "0.7", "0.6", "0.5", "0.4", "0.3", "0.2", "0.1"}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// status is the SIP status for d. A 302 needs at least one usable contact;
// without one the call is unavailable (480).
func status(d telephony.Decision) (int, string) {
	code := d.SIPStatus()
	if code == 302 && !hasUsableContact(d.Contacts) {
		code = 480
	}
	switch code {
	case 302:
		return 302, "Moved Temporarily"
	case 480:
		return 480, "Temporarily Unavailable"
	}
	return 404, "Not Found"
}

// sendDecision answers req statelessly with d.
func (s *Server) sendDecision(req *sip.Request, d telephony.Decision) error {
	code, reason := status(d)
	b := buffers.Get().(*bytes.Buffer)
	b.Reset()
	writeHead(b, req, code, reason)
	host := ""
	if code == 302 {
		host = s.contactHost(req)
	}
	writeBody(b, d, code, host)
	err := s.write(req, b.Bytes())
	buffers.Put(b)
	return err
}

// writeBody writes what follows the copied headers in an answer with d:
// the Contacts of a 302 (E.164 contacts at contactHost), the reason, and
// the end of the message.
func writeBody(b *bytes.Buffer, d telephony.Decision, code int, contactHost string) {
	if code == 302 {
		i := 0
		for _, c := range d.Contacts {
			if !usableContact(c) {
				continue
			}
			b.WriteString("Contact: <")
			writeContactURI(b, c, contactHost)
			b.WriteString(">;q=")
			b.WriteString(qValues[min(i, len(qValues)-1)])
			b.WriteString("\r\n")
			i++
		}
	}
	if d.Reason != "" {
		b.WriteString(reasonHeader + ": ")
		writeReason(b, d.Reason)
		b.WriteString("\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
}

// reply answers a request statelessly with no body; 405 and the 200 to an
// OPTIONS list the methods the router takes.
func (s *Server) reply(req *sip.Request, code int, reason string) {
	b := buffers.Get().(*bytes.Buffer)
	b.Reset()
	writeHead(b, req, code, reason)
	if code == 405 || (code == 200 && req.Method == sip.OPTIONS) {
		b.WriteString("Allow: " + allow + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	if err := s.write(req, b.Bytes()); err != nil {
		s.m.writeErrors.Inc()
		s.log.Debug("sip router: response not sent", "status", code, "error", err)
	}
	buffers.Put(b)
}

// contactHost is the host for E.164 contacts: ContactHost, or the
// Request-URI's host, bracketed if it is an IPv6 address.
func (s *Server) contactHost(req *sip.Request) string {
	return s.contactHostOf(req.Recipient.Host)
}

// contactHostOf is contactHost for a Request-URI host h.
func (s *Server) contactHostOf(h string) string {
	if s.ContactHost != "" {
		return s.ContactHost
	}
	if strings.IndexByte(h, ':') >= 0 && !strings.HasPrefix(h, "[") {
		return "[" + h + "]"
	}
	return h
}

// writeContactURI writes a decision's contact as a URI: sip:, sips: and
// tel: URIs as they are, a number (E.164, or an extension) as
// sip:<number>@host;user=phone.
//
// sip: rather than tel: because PBXes and proxies route a sip: Contact
// like any other target (Kamailio's uac_redirect, Asterisk, FreeSWITCH),
// while many do not dial a tel: URI from a 3xx; user=phone tells them the
// user part is a telephone number (RFC 3261 §19.1.1).
func writeContactURI(b *bytes.Buffer, c, host string) {
	if hasScheme(c) {
		b.WriteString(c)
		return
	}
	b.WriteString("sip:")
	b.WriteString(c)
	b.WriteByte('@')
	b.WriteString(host)
	b.WriteString(";user=phone")
}

// contactURI is writeContactURI as a string.
func contactURI(c, host string) string {
	var b bytes.Buffer
	writeContactURI(&b, c, host)
	return b.String()
}

func hasScheme(c string) bool {
	i := strings.IndexByte(c, ':')
	if i < 3 || i > 4 {
		return false
	}
	switch strings.ToLower(c[:i]) {
	case "sip", "sips", "tel":
		return true
	}
	return false
}

// usableContact reports whether c can go into a Contact header as is:
// not empty and nothing that would end the URI or the header. Contacts
// are typed by CRM and PBX admins, so this guards against header injection.
func usableContact(c string) bool {
	if c == "" {
		return false
	}
	for i := 0; i < len(c); i++ {
		switch ch := c[i]; {
		case ch <= ' ', ch == 0x7f, ch == '<', ch == '>', ch == '"', ch == ',':
			return false
		}
	}
	return true
}

func hasUsableContact(cs []string) bool {
	for _, c := range cs {
		if usableContact(c) {
			return true
		}
	}
	return false
}

// writeReason writes r cut to maxReason bytes, control characters as spaces.
func writeReason(b *bytes.Buffer, r string) {
	if len(r) > maxReason {
		r = r[:maxReason]
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c < ' ' || c == 0x7f {
			c = ' '
		}
		b.WriteByte(c)
	}
}

// response builds a sipgo response to req for a server transaction, with
// the same To tag and destination as a stateless answer would have.
func (s *Server) response(req *sip.Request, code int, reason string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if code != 100 && !req.To().Params.Has("tag") {
		res.To().Params.Add("tag", toTag(req))
	}
	if req.Transport() != "TCP" {
		// sipgo would send to the packet's source; RFC 3261 §18.2.2 wants
		// the Via's port unless rport was asked for.
		if dst, err := responseAddr(req); err == nil {
			res.SetDestination(dst.String())
		}
	}
	return res
}

// trying is the 100 Trying for a call waiting on the resolver.
func (s *Server) trying(req *sip.Request) *sip.Response {
	return s.response(req, 100, "Trying")
}

// finalResponse is the answer with d, for a server transaction.
func (s *Server) finalResponse(req *sip.Request, d telephony.Decision) *sip.Response {
	code, reason := status(d)
	res := s.response(req, code, reason)
	if code == 302 {
		host := s.contactHost(req)
		i := 0
		for _, c := range d.Contacts {
			if !usableContact(c) {
				continue
			}
			v := "<" + contactURI(c, host) + ">;q=" + qValues[min(i, len(qValues)-1)]
			res.AppendHeader(sip.NewHeader("Contact", v))
			i++
		}
	}
	if d.Reason != "" {
		var b bytes.Buffer
		writeReason(&b, d.Reason)
		res.AppendHeader(sip.NewHeader(reasonHeader, b.String()))
	}
	return res
}
