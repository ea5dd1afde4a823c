package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Diagnostic is one problem found in a config file.
type Diagnostic struct {
	// File is the config file as it was named to Load or Parse; "" for
	// problems with command-line flags (ZeroConfig).
	File string
	// Line and Col are 1-based; Col counts bytes. Line is 0 when the place
	// is unknown, such as a table that is missing altogether.
	Line, Col int
	// Key is the path of the offending key, like vhost[2].listeners[0]
	// (indexes 0-based, as arrays appear in the file); "" for syntax
	// errors.
	Key string
	// Msg says what is wrong.
	Msg string
}

// String formats d as "FILE:LINE:COL: key: msg", or "FILE: key: msg" when
// the line is unknown.
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		if d.Line > 0 {
			fmt.Fprintf(&b, ":%d", d.Line)
			if d.Col > 0 {
				fmt.Fprintf(&b, ":%d", d.Col)
			}
		}
		b.WriteString(": ")
	}
	if d.Key != "" {
		b.WriteString(d.Key)
		b.WriteString(": ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// ErrorList is every problem found in one config file, sorted by place.
type ErrorList []Diagnostic

// Error puts one diagnostic on each line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, d := range l {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// keyPath is the path of a key in the file, each segment already rendered
// as it is shown to users: a bare or quoted key, or an index like "[2]".
// Rendering once keeps the decoder and the locator agreeing on names.
type keyPath []string

func (p keyPath) key(k string) keyPath {
	return append(p[:len(p):len(p)], renderKey(k))
}

func (p keyPath) index(i int) keyPath {
	return append(p[:len(p):len(p)], "["+strconv.Itoa(i)+"]")
}

func (p keyPath) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// withoutIndexes is the path as a TOML table header names it.
func (p keyPath) withoutIndexes() string {
	var q keyPath
	for _, s := range p {
		if !strings.HasPrefix(s, "[") {
			q = append(q, s)
		}
	}
	return q.String()
}

// renderKey quotes k unless TOML would accept it as a bare key, so that
// vhost[0].paths."/about" reads back as the key the user wrote.
func renderKey(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		if !isBareKeyByte(k[i]) {
			return strconv.Quote(k)
		}
	}
	return k
}

func isBareKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// problem is a diagnostic whose place in the file is not yet looked up.
type problem struct {
	path    keyPath
	atValue bool // point at the value rather than the key
	msg     string
}

// checker collects problems while a file is decoded and checked.
type checker struct {
	file     string            // as named by the caller, for messages
	dir      string            // relative paths are resolved against it
	src      []byte            // the file, to locate keys in
	problems []problem         //
	warnings []problem         // placed and kept in Config.Warnings
	contents map[string][]byte // every file read, by absolute path
}

func (c *checker) name() string {
	if c.file == "" {
		return "<config>"
	}
	return c.file
}

// keyErrorf reports a problem with a key itself (unknown, malformed).
func (c *checker) keyErrorf(p keyPath, format string, args ...any) {
	c.problems = append(c.problems, problem{path: p, msg: fmt.Sprintf(format, args...)})
}

// valueErrorf reports a problem with the value of a key.
func (c *checker) valueErrorf(p keyPath, format string, args ...any) {
	c.problems = append(c.problems, problem{path: p, atValue: true, msg: fmt.Sprintf(format, args...)})
}

// warnf reports something that does not stop the config from loading but
// that its author should hear about (printed by -t, logged at start).
func (c *checker) warnf(p keyPath, format string, args ...any) {
	c.warnings = append(c.warnings, problem{path: p, atValue: true, msg: fmt.Sprintf(format, args...)})
}

// errorList places every problem in the source and sorts them. The source
// is scanned only here and for warnings, because a valid file with nothing
// to warn about never needs it.
func (c *checker) errorList() ErrorList { return c.place(c.problems) }

func (c *checker) place(problems []problem) ErrorList {
	loc := newLocator(c.src)
	l := make(ErrorList, len(problems))
	for i, p := range problems {
		line, col := loc.find(p.path, p.atValue)
		l[i] = Diagnostic{File: c.name(), Line: line, Col: col, Key: p.path.String(), Msg: p.msg}
	}
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Key < b.Key
	})
	return l
}
