package config

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The TOML decoder keeps no positions for keys inside arrays of tables, so
// the locator scans the source once more and notes where every key path
// (vhost[2].listeners[0], vhost[0].paths."/about", …) starts. It only has
// to understand the structure of TOML, not its values: headers, keys,
// strings, arrays and inline tables. It runs on files the decoder accepted,
// but never trusts that: on anything unexpected it moves on, and every loop
// consumes at least one byte.

// place is where a key and its value start, as byte offsets; -1 if unseen.
type place struct {
	key, value int
}

type locator struct {
	src    []byte
	i      int
	lines  []int            // offset of the start of each line
	places map[string]place // by keyPath.String()
	arrays map[string]int   // elements so far of each array of tables
	table  keyPath          // the table the last header opened
}

func newLocator(src []byte) *locator {
	l := &locator{src: src, places: map[string]place{}, arrays: map[string]int{}}
	l.lines = append(l.lines, 0)
	for i, c := range src {
		if c == '\n' {
			l.lines = append(l.lines, i+1)
		}
	}
	// Editors do not show a byte-order mark; columns on line 1 skip it.
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		l.i, l.lines[0] = 3, 3
	}
	l.scan()
	return l
}

// find returns the line and column of p, its value's when atValue and the
// value was seen. A path that is not in the file (a key left out) falls
// back to its nearest ancestor, like the [[vhost]] header of a vhost with
// no root; line 0 means not even that was found.
func (l *locator) find(p keyPath, atValue bool) (line, col int) {
	for q := p; len(q) > 0; q = q[:len(q)-1] {
		pl, ok := l.places[q.String()]
		if !ok {
			continue
		}
		off := pl.key
		if atValue && len(q) == len(p) && pl.value >= 0 {
			off = pl.value
		}
		n := sort.Search(len(l.lines), func(i int) bool { return l.lines[i] > off }) - 1
		return n + 1, off - l.lines[n] + 1
	}
	return 0, 0
}

// syntaxPosition places a TOML parse error by its byte offset, start, into
// the text the parser read: src without its byte-order mark. The parser's
// own line number has already moved on when the offending byte is the
// newline that ends a line, as in a header missing its "]", so the offset
// is the one to trust.
func syntaxPosition(src []byte, start int) (line, col int) {
	switch {
	case bytes.HasPrefix(src, []byte("\xff\xfe")), bytes.HasPrefix(src, []byte("\xfe\xff")):
		src = src[2:]
	case bytes.HasPrefix(src, []byte("\xef\xbb\xbf")):
		src = src[3:]
	}
	start = max(0, min(start, len(src)))
	before := src[:start]
	return bytes.Count(before, []byte("\n")) + 1, start - (bytes.LastIndexByte(before, '\n') + 1) + 1
}

func (l *locator) setKey(p keyPath, off int) {
	// The first mention wins: later ones are only implicit parents.
	k := p.String()
	if _, seen := l.places[k]; !seen {
		l.places[k] = place{key: off, value: -1}
	}
}

func (l *locator) setValue(p keyPath, off int) {
	k := p.String()
	pl, ok := l.places[k]
	if !ok {
		pl = place{key: off, value: off}
	} else if pl.value < 0 {
		pl.value = off
	}
	l.places[k] = pl
}

func (l *locator) scan() {
	for l.i < len(l.src) {
		l.skipSpace(true)
		if l.i >= len(l.src) {
			return
		}
		start := l.i
		if l.src[l.i] == '[' {
			l.header()
		} else {
			l.keyValue(l.table)
		}
		l.skipLine()
		if l.i == start {
			l.i++
		}
	}
}

// header handles [table] and [[array.of.tables]]. Each prefix that names an
// array of tables means its latest element, as in TOML itself.
func (l *locator) header() {
	start := l.i
	l.i++
	double := l.i < len(l.src) && l.src[l.i] == '['
	if double {
		l.i++
	}
	segs := l.keySegments()
	var p keyPath
	for j, s := range segs {
		p = p.key(s.name)
		if double && j == len(segs)-1 {
			n := l.arrays[p.String()]
			l.arrays[p.String()] = n + 1
			l.setKey(p, start)
			p = p.index(n)
		} else if n, ok := l.arrays[p.String()]; ok {
			p = p.index(n - 1)
		}
		l.setKey(p, start)
	}
	l.table = p
}

// keyValue handles `a.b = value` inside the table at base.
func (l *locator) keyValue(base keyPath) {
	segs := l.keySegments()
	if len(segs) == 0 {
		return
	}
	p := base
	for _, s := range segs {
		p = p.key(s.name)
		l.setKey(p, s.off)
	}
	l.skipSpace(false)
	if l.i >= len(l.src) || l.src[l.i] != '=' {
		return
	}
	l.i++
	l.skipSpace(false)
	l.value(p)
}

func (l *locator) value(p keyPath) {
	if l.i >= len(l.src) {
		return
	}
	l.setValue(p, l.i)
	switch l.src[l.i] {
	case '"', '\'':
		l.skipString()
	case '[':
		l.array(p)
	case '{':
		l.inlineTable(p)
	default:
		// Numbers, booleans and dates; a date may hold a space.
		for l.i < len(l.src) && strings.IndexByte(",]}#\r\n", l.src[l.i]) < 0 {
			l.i++
		}
	}
}

func (l *locator) array(p keyPath) {
	l.i++
	for n := 0; l.i < len(l.src); {
		l.skipSpace(true)
		if l.i >= len(l.src) {
			return
		}
		switch l.src[l.i] {
		case ']':
			l.i++
			return
		case ',':
			l.i++
			continue
		}
		start := l.i
		e := p.index(n)
		l.setKey(e, start)
		l.value(e)
		n++
		if l.i == start {
			l.i++
		}
	}
}

// inlineTable also accepts newlines and comments inside the braces, as
// TOML 1.1 does.
func (l *locator) inlineTable(p keyPath) {
	l.i++
	for l.i < len(l.src) {
		l.skipSpace(true)
		if l.i >= len(l.src) {
			return
		}
		switch l.src[l.i] {
		case '}':
			l.i++
			return
		case ',':
			l.i++
			continue
		}
		start := l.i
		l.keyValue(p)
		if l.i == start {
			l.i++
		}
	}
}

type segment struct {
	name string
	off  int
}

// keySegments reads a possibly dotted, possibly quoted key.
func (l *locator) keySegments() []segment {
	var segs []segment
	for {
		l.skipSpace(false)
		off := l.i
		name, ok := l.keySegment()
		if !ok {
			return segs
		}
		segs = append(segs, segment{name, off})
		l.skipSpace(false)
		if l.i >= len(l.src) || l.src[l.i] != '.' {
			return segs
		}
		l.i++
	}
}

func (l *locator) keySegment() (string, bool) {
	if l.i >= len(l.src) {
		return "", false
	}
	switch q := l.src[l.i]; q {
	case '"', '\'':
		start := l.i
		l.skipString()
		raw := string(l.src[start+1 : max(start+1, l.i-1)])
		if q == '\'' {
			return raw, true
		}
		return unescape(raw), true
	}
	start := l.i
	for l.i < len(l.src) && isBareKeyByte(l.src[l.i]) {
		l.i++
	}
	return string(l.src[start:l.i]), l.i > start
}

// skipString moves past a basic, literal or multi-line string.
func (l *locator) skipString() {
	q := l.src[l.i]
	basic := q == '"'
	triple := []byte{q, q, q}
	if bytes.HasPrefix(l.src[l.i:], triple) {
		l.i += 3
		for l.i < len(l.src) {
			switch {
			case basic && l.src[l.i] == '\\':
				l.i += 2
			case bytes.HasPrefix(l.src[l.i:], triple):
				l.i += 3
				// Up to two quotes right before the delimiter are content.
				for extra := 0; extra < 2 && l.i < len(l.src) && l.src[l.i] == q; extra++ {
					l.i++
				}
				return
			default:
				l.i++
			}
		}
		l.i = min(l.i, len(l.src))
		return
	}
	l.i++
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == '\n':
			return
		case basic && c == '\\':
			l.i += 2
			continue
		}
		l.i++
		if c == q {
			return
		}
	}
	l.i = min(l.i, len(l.src))
}

// skipSpace skips blanks and comments, and newlines when newlines is set.
func (l *locator) skipSpace(newlines bool) {
	for l.i < len(l.src) {
		switch l.src[l.i] {
		case ' ', '\t':
		case '\r', '\n':
			if !newlines {
				return
			}
		case '#':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.i++
			}
			continue
		default:
			return
		}
		l.i++
	}
}

func (l *locator) skipLine() {
	for l.i < len(l.src) && l.src[l.i] != '\n' {
		l.i++
	}
}

// unescape decodes the escapes of a TOML basic string, so a quoted key is
// found under the name the decoder gave it. Bad escapes stay as written.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b = append(b, s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'b':
			b = append(b, '\b')
		case 't':
			b = append(b, '\t')
		case 'n':
			b = append(b, '\n')
		case 'f':
			b = append(b, '\f')
		case 'r':
			b = append(b, '\r')
		case 'e':
			b = append(b, 0x1b)
		case '"', '\\':
			b = append(b, c)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			if i+n < len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32); err == nil {
					b = utf8.AppendRune(b, rune(r))
					i += n
					continue
				}
			}
			b = append(b, '\\', c)
		default:
			b = append(b, '\\', c)
		}
	}
	return string(b)
}
