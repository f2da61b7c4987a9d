package serve

import (
	"bytes"
	"io"
	"slices"
)

// ClientPath is where the browser client is served.
const ClientPath = "/_reloadd/client.js"

// Inject returns html with tag inserted exactly once, where the
// document's head ends as the HTML parser decides it (WHATWG HTML, section
// 13.2.6.4.4, "in head"): before the first of
//
//   - a </head> end tag,
//   - a start tag of an element that cannot be in a head (anything but
//     html, head, base, basefont, bgsound, link, meta, noframes, noscript,
//     script, style, template and title: <body>, <div>, <p>, <svg>, a
//     custom element...), or
//   - a </body>, </html> or </br> end tag, which end the head too;
//
// and at the end of a document that has none of them. There the client is
// in the head (or first in the body), so it runs before the rest of the
// page has loaded, and no later byte of the document is needed to place
// it: the proxy finds the same place while a document streams (see
// injectHead). Tags count as a parser sees them: not inside comments,
// attribute values, the text of <script>, <style>, <title> and the other
// raw-text elements, or a <template>; and not as a prefix of a longer name
// (</header> is not </head>). Text outside tags, which ends a head for
// the parser too, is not looked for: a document of text without markup
// gets the client at its end, and a byte-order mark or a stray word never
// puts it before a <meta charset>.
//
// A document that already loads the client (it contains ClientPath
// anywhere) is returned unchanged. Inject never modifies html in place.
func Inject(html, tag []byte) []byte {
	if bytes.Contains(html, []byte(ClientPath)) {
		return html
	}
	var s scanner
	s.reset()
	s.scan(html, true)
	return insertAt(html, s.where(len(html)), tag)
}

// insertAt returns a new slice: b with tag inserted at at.
func insertAt(b []byte, at int, tag []byte) []byte {
	out := make([]byte, 0, len(b)+len(tag))
	out = append(out, b[:at]...)
	out = append(out, tag...)
	return append(out, b[at:]...)
}

// injectHead reads the start of an HTML document from r and decides where
// tag goes, reading no more than limit bytes. It returns the bytes to send
// first: everything read so far, with the tag inserted if the document
// shows where it goes. When eof is true, head is the whole document;
// otherwise the caller sends the rest of r after head, untouched.
//
// The tag goes in as soon as the injection point has been read, so a
// document streamed by the upstream keeps streaming: a page that sends its
// head, or only the start of its body, and then works on the rest shows
// what it sent at once. Only a document with no injection point at all
// (text without markup, a huge comment) must be read to the end; one that
// shows none within limit bytes is passed on un-injected (injected ==
// false), so that memory stays bounded (to limit+1 bytes). The client is
// not injected when the bytes read so far already contain ClientPath.
func injectHead(r io.Reader, tag []byte, limit int) (head []byte, injected, eof bool, err error) {
	const first = 8 << 10 // most heads fit; larger documents double up to limit
	// One byte more than limit: a document of exactly limit bytes is
	// whole only once a read past it reports EOF.
	buf := make([]byte, 0, min(first, limit+1))
	var s scanner
	s.reset()
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return buf, false, false, nil
			}
			grown := make([]byte, len(buf), min(2*cap(buf), limit+1))
			copy(grown, buf)
			buf = grown
		}
		n, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		eof = rerr == io.EOF
		if rerr != nil && !eof {
			return nil, false, false, rerr
		}
		s.scan(buf, eof)
		if s.at < 0 && !eof {
			continue
		}
		if bytes.Contains(buf, []byte(ClientPath)) {
			return buf, false, eof, nil
		}
		return insertAt(buf, s.where(len(buf)), tag), true, eof, nil
	}
}

// scanner finds the injection point (see [Inject]) in an HTML
// document that arrives in pieces. It follows just enough of the HTML
// tokenizer (WHATWG HTML, section 13.2.5) to tell markup from text:
// comments, bogus comments (<!DOCTYPE>, <?xml?>), tags with quoted and
// unquoted attribute values, and raw-text elements whose content only their
// own end tag ends. It never looks back: each call resumes where the last
// stopped, and stops short of a construct it cannot decide yet (a "<" at
// the end of the bytes so far), so scanning a document costs O(n) however
// it is split. Character references and the script "double escaped" states
// do not matter for finding tags and are not modelled.
type scanner struct {
	pos   int // next byte to look at
	state scanState

	tagStart int  // index of the '<' of the tag being read
	endTag   bool // the tag being read is an end tag
	name     [maxTagName]byte
	nameLen  int // may exceed maxTagName; only the first bytes are kept
	quote    byte
	raw      string // end tag name that ends the current raw-text element
	template int    // depth of <template> elements the scanner is inside

	at int // index of the '<' at the injection point, or -1
}

// maxTagName is the longest tag name the scanner needs to recognise
// ("plaintext"); a longer name is no element allowed in a head.
const maxTagName = 9

type scanState uint8

const (
	stData         scanState = iota // text
	stCommentStart                  // just after "<!--"
	stComment                       // inside a comment
	stBogus                         // after "<!", "<?" or "</" not followed by a letter; ends at '>'
	stTagName                       // after "<x" or "</x"
	stAttrs                         // inside a tag, outside attribute values
	stBeforeValue                   // after '=' in a tag
	stQuoted                        // inside a quoted attribute value
	stUnquoted                      // inside an unquoted attribute value
	stRawText                       // inside <script>, <style>, ...: only </raw ends it
	stPlainText                     // after <plaintext>: everything is text
)

// rawTextElements are the elements whose content is text up to their own
// end tag (raw text and escapable raw text elements; noscript counts
// because browsers run scripts).
var rawTextElements = []string{"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript"}

// headElements are the elements whose start tags may appear in a head
// without ending it.
var headElements = []string{"html", "head", "base", "basefont", "bgsound", "link", "meta", "noframes", "noscript", "script", "style", "template", "title"}

func (s *scanner) reset() { *s = scanner{at: -1} }

// where returns the injection point in a document of length n.
func (s *scanner) where(n int) int {
	if s.at >= 0 {
		return s.at
	}
	return n
}

// scan advances over b, which extends the bytes given to earlier calls.
// atEOF says no more bytes will follow. It stops at the injection point.
func (s *scanner) scan(b []byte, atEOF bool) {
	for s.at < 0 && s.pos < len(b) {
		if !s.step(b, atEOF) {
			break
		}
	}
	if atEOF && s.at < 0 && s.state == stTagName {
		// A document that ends inside a tag name ("</head", "<div"):
		// the parser drops the tag; injecting before it is still right.
		s.endName()
	}
}

// more is step's answer when it needs bytes beyond b: resume at pos with
// the next chunk, or, at the end of the input, take b as scanned.
func (s *scanner) more(b []byte, pos int, atEOF bool) bool {
	s.pos = pos
	if atEOF {
		s.pos = len(b)
	}
	return atEOF
}

// step makes progress on b from s.pos. It reports false when it needs more
// bytes than b has (and leaves s.pos where it must resume).
func (s *scanner) step(b []byte, atEOF bool) bool {
	switch s.state {
	case stData:
		i := bytes.IndexByte(b[s.pos:], '<')
		if i < 0 {
			s.pos = len(b)
			return true
		}
		lt := s.pos + i
		if lt+1 >= len(b) {
			return s.more(b, lt, atEOF)
		}
		switch c := b[lt+1]; {
		case c == '!':
			if len(b)-lt < 4 && !atEOF && bytes.HasPrefix([]byte("<!--"), b[lt:]) {
				s.pos = lt
				return false
			}
			if bytes.HasPrefix(b[lt:], []byte("<!--")) {
				s.state, s.pos = stCommentStart, lt+4
				return true
			}
			s.state, s.pos = stBogus, lt+2
		case c == '?':
			s.state, s.pos = stBogus, lt+2
		case c == '/':
			if lt+2 >= len(b) {
				return s.more(b, lt, atEOF)
			}
			switch c2 := b[lt+2]; {
			case isASCIILetter(c2):
				s.startTag(lt, true)
				s.pos = lt + 2
			case c2 == '>':
				s.pos = lt + 3 // "</>" is dropped
			default:
				s.state, s.pos = stBogus, lt+2
			}
		case isASCIILetter(c):
			s.startTag(lt, false)
			s.pos = lt + 1
		default:
			s.pos = lt + 1 // a '<' in text
		}
		return true

	case stCommentStart:
		// Just after "<!--": "<!-->" and "<!--->" are complete, empty
		// comments.
		if b[s.pos] == '>' {
			s.state, s.pos = stData, s.pos+1
			return true
		}
		if b[s.pos] == '-' {
			if s.pos+1 >= len(b) {
				return s.more(b, s.pos, atEOF)
			}
			if b[s.pos+1] == '>' {
				s.state, s.pos = stData, s.pos+2
				return true
			}
		}
		s.state = stComment
		return true

	case stComment:
		// Ends at "-->" or "--!>".
		for {
			i := bytes.Index(b[s.pos:], []byte("--"))
			if i < 0 {
				return s.more(b, max(s.pos, len(b)-1), atEOF)
			}
			d := s.pos + i
			rest := b[d+2:]
			switch {
			case len(rest) >= 1 && rest[0] == '>':
				s.state, s.pos = stData, d+3
				return true
			case len(rest) >= 2 && rest[0] == '!' && rest[1] == '>':
				s.state, s.pos = stData, d+4
				return true
			case len(rest) == 0 || (len(rest) == 1 && rest[0] == '!'):
				return s.more(b, d, atEOF)
			}
			s.pos = d + 1
		}

	case stBogus:
		i := bytes.IndexByte(b[s.pos:], '>')
		if i < 0 {
			s.pos = len(b)
			return true
		}
		s.state, s.pos = stData, s.pos+i+1
		return true

	case stTagName:
		for s.pos < len(b) {
			c := b[s.pos]
			if isTagSpace(c) || c == '/' || c == '>' {
				s.endName()
				s.state = stAttrs
				return true
			}
			if s.nameLen < maxTagName {
				s.name[s.nameLen] = lowerASCII(c)
			}
			s.nameLen++
			s.pos++
		}
		return true

	case stAttrs, stUnquoted:
		for s.pos < len(b) {
			c := b[s.pos]
			s.pos++
			switch {
			case c == '>':
				s.endTagOpen()
				return true
			case s.state == stAttrs && c == '=':
				s.state = stBeforeValue
				return true
			case s.state == stUnquoted && isTagSpace(c):
				s.state = stAttrs
				return true
			}
		}
		return true

	case stBeforeValue:
		for s.pos < len(b) {
			c := b[s.pos]
			s.pos++
			switch {
			case isTagSpace(c):
				continue
			case c == '"' || c == '\'':
				s.state, s.quote = stQuoted, c
			case c == '>':
				s.endTagOpen()
			default:
				s.state = stUnquoted
			}
			return true
		}
		return true

	case stQuoted:
		i := bytes.IndexByte(b[s.pos:], s.quote)
		if i < 0 {
			s.pos = len(b)
			return true
		}
		s.state, s.pos = stAttrs, s.pos+i+1
		return true

	case stRawText:
		for {
			i := bytes.Index(b[s.pos:], []byte("</"))
			if i < 0 {
				return s.more(b, max(s.pos, len(b)-1), atEOF)
			}
			lt := s.pos + i
			end := lt + 2 + len(s.raw)
			if end >= len(b) {
				return s.more(b, lt, atEOF)
			}
			if equalFoldASCII(b[lt+2:end], s.raw) {
				if c := b[end]; isTagSpace(c) || c == '/' || c == '>' {
					s.tagStart, s.endTag, s.raw = lt, true, ""
					s.state, s.pos = stAttrs, end
					return true
				}
			}
			s.pos = lt + 1
		}

	case stPlainText:
		s.pos = len(b)
		return true
	}
	panic("serve: unknown scanner state")
}

func (s *scanner) startTag(lt int, end bool) {
	s.state, s.tagStart, s.endTag, s.nameLen = stTagName, lt, end, 0
}

// endName is called when a tag's name is complete: it decides whether
// the tag is the injection point.
func (s *scanner) endName() {
	name := ""
	if s.nameLen <= maxTagName {
		name = string(s.name[:s.nameLen])
	}
	switch {
	case s.template > 0:
		// Inside a template nothing ends the head; only the template's
		// own end tag counts, in endTagOpen.
	case s.endTag:
		switch name {
		case "head", "body", "html", "br":
			s.at = s.tagStart
		}
	case !slices.Contains(headElements, name):
		s.at = s.tagStart
	}
}

// endTagOpen is called at the '>' that ends a tag.
func (s *scanner) endTagOpen() {
	s.state = stData
	if s.nameLen > maxTagName {
		return
	}
	name := string(s.name[:s.nameLen])
	if s.endTag {
		if name == "template" && s.template > 0 {
			s.template--
		}
		return
	}
	switch {
	case name == "template":
		s.template++
	case name == "plaintext":
		s.state = stPlainText
	case slices.Contains(rawTextElements, name):
		s.state, s.raw = stRawText, name
	}
}

func isASCIILetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

func isTagSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFoldASCII reports whether a equals the lower-case ASCII word lower,
// ignoring ASCII case.
func equalFoldASCII(a []byte, lower string) bool {
	if len(a) != len(lower) {
		return false
	}
	for i := range len(lower) {
		if lowerASCII(a[i]) != lower[i] {
			return false
		}
	}
	return true
}
