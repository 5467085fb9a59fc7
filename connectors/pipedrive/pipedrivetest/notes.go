package pipedrivetest

import (
	"html"
	"regexp"
	"strings"

	"github.com/crmsync/crmsync/connectors"
)

var (
	paragraphs = regexp.MustCompile(`(?s)<p>(.*?)</p>`)
	tags       = regexp.MustCompile(`<[^>]*>`)
	href       = regexp.MustCompile(`href="([^"]*)"`)
	callLogRef = regexp.MustCompile(`\(call log ([^)\s]+)\)`)
)

// callLogOf returns the call log a note names ("(call log <id>)"), or "".
func callLogOf(content string) string {
	m := callLogRef.FindStringSubmatch(content)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// applyNote reads a call log's or note's HTML back into call: paragraphs
// "Category: …", "Value: …" and "Recording: <a href=…>", a heading naming
// the call log (skipped), and the rest, the comment. Text outside
// paragraphs is comment too.
func applyNote(call *connectors.CallActivity, content string) {
	if strings.TrimSpace(content) == "" {
		return
	}
	paras := paragraphs.FindAllStringSubmatch(content, -1)
	if paras == nil {
		paras = [][]string{{content, content}}
	}
	var comment []string
	for _, p := range paras {
		raw := p[1]
		text := strings.TrimSpace(html.UnescapeString(tags.ReplaceAllString(strings.ReplaceAll(raw, "<br>", "\n"), "")))
		switch {
		case callLogRef.MatchString(raw):
		case strings.HasPrefix(text, "Category: "):
			call.Category = strings.TrimPrefix(text, "Category: ")
		case strings.HasPrefix(text, "Value: "):
			call.Value = strings.TrimPrefix(text, "Value: ")
		case strings.HasPrefix(text, "Recording: "):
			if m := href.FindStringSubmatch(raw); m != nil {
				call.RecordingURL = html.UnescapeString(m[1])
			}
		case text != "":
			comment = append(comment, text)
		}
	}
	if len(comment) > 0 {
		call.Comment = strings.Join(comment, "\n")
	}
}
