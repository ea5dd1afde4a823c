package config

import (
	"fmt"
	"sort"
	"time"
)

// table reads typed values out of one decoded TOML table. Decoding into Go
// structs with toml.Decode stops at the first type mismatch and reports
// unknown keys without their array index; reading the generic tree here
// lets a wrong type be one diagnostic among many, each with its full path.
//
// Every getter records the key as known, so unknown() can report the rest.
type table struct {
	c     *checker
	path  keyPath
	m     map[string]any
	known map[string]bool
}

func (c *checker) table(p keyPath, m map[string]any) *table {
	return &table{c: c, path: p, m: m, known: map[string]bool{}}
}

// get returns the raw value of key, or false when it is absent.
func (t *table) get(key string) (any, keyPath, bool) {
	t.known[key] = true
	v, ok := t.m[key]
	return v, t.path.key(key), ok
}

// has reports whether key is present, whatever its type.
func (t *table) has(key string) bool {
	_, ok := t.m[key]
	return ok
}

// keys returns every key of the table in sorted order and marks them known;
// for tables whose keys are data (paths, headers) rather than settings.
func (t *table) keys() []string {
	ks := make([]string, 0, len(t.m))
	for k := range t.m {
		t.known[k] = true
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// str returns the string at key; ok is false when it is absent or not a
// string (then reported).
func (t *table) str(key string) (s string, p keyPath, ok bool) {
	v, p, present := t.get(key)
	if !present {
		return "", p, false
	}
	s, ok = v.(string)
	if !ok {
		t.c.typeError(p, "a string", v)
	}
	return s, p, ok
}

func (t *table) boolean(key string, def bool) bool {
	v, p, present := t.get(key)
	if !present {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		t.c.typeError(p, "a boolean (true or false)", v)
		return def
	}
	return b
}

func (t *table) integer(key string) (n int64, p keyPath, ok bool) {
	v, p, present := t.get(key)
	if !present {
		return 0, p, false
	}
	n, ok = v.(int64)
	if !ok {
		t.c.typeError(p, "an integer", v)
	}
	return n, p, ok
}

// item is one element of a string array, with its own path for messages.
type item struct {
	s    string
	path keyPath
}

// strings returns the string array at key; present is false when the key
// is absent. Elements of the wrong type are reported and left out.
func (t *table) strings(key string) (items []item, present bool) {
	v, p, present := t.get(key)
	if !present {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		t.c.typeError(p, "an array of strings", v)
		return nil, true
	}
	items = make([]item, 0, len(arr))
	for i, e := range arr {
		ep := p.index(i)
		s, ok := e.(string)
		if !ok {
			t.c.typeError(ep, "a string", e)
			continue
		}
		items = append(items, item{s, ep})
	}
	return items, true
}

// sub returns the table at key, or nil when it is absent or not a table.
func (t *table) sub(key string) *table {
	v, p, present := t.get(key)
	if !present {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.c.typeError(p, "a table", v)
		return nil
	}
	return t.c.table(p, m)
}

// tables returns the array of tables at key, written either as [[key]]
// sections or as an inline array of inline tables.
func (t *table) tables(key string) (ts []*table, present bool) {
	v, p, present := t.get(key)
	if !present {
		return nil, false
	}
	switch arr := v.(type) {
	case []map[string]any:
		for i, m := range arr {
			ts = append(ts, t.c.table(p.index(i), m))
		}
	case []any:
		for i, e := range arr {
			m, ok := e.(map[string]any)
			if !ok {
				t.c.typeError(p.index(i), "a table", e)
				continue
			}
			ts = append(ts, t.c.table(p.index(i), m))
		}
	default:
		t.c.typeError(p, "an array of tables ([["+p.withoutIndexes()+"]])", v)
	}
	return ts, true
}

// duration reads a Go duration string that must be positive.
func (t *table) duration(key string, def time.Duration) time.Duration {
	v, p, present := t.get(key)
	if !present {
		return def
	}
	s, ok := v.(string)
	if !ok {
		// An integer here is a likely slip, and nanoseconds a likely trap.
		t.c.typeError(p, `a duration string such as "750ms" or "10s"`, v)
		return def
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		t.c.valueErrorf(p, "%q is not a duration (use a Go duration such as \"750ms\" or \"10s\")", s)
	case d <= 0:
		t.c.valueErrorf(p, "must be greater than zero, not %q", s)
	default:
		return d
	}
	return def
}

// size reads a byte or count limit in [min, max].
func (t *table) size(key string, def, min, max int64) int64 {
	n, p, ok := t.integer(key)
	if !ok {
		return def
	}
	switch {
	case n < 0:
		t.c.valueErrorf(p, "must not be negative, not %d", n)
	case n < min:
		t.c.valueErrorf(p, "must be at least %d, not %d", min, n)
	case n > max:
		t.c.valueErrorf(p, "must be at most %d, not %d", max, n)
	default:
		return n
	}
	return def
}

// enum reads a string that must be one of allowed.
func (t *table) enum(key, def string, allowed ...string) string {
	s, p, ok := t.str(key)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	t.c.valueErrorf(p, "%q is not one of %s", s, orList(allowed))
	return def
}

// unknown reports every key no getter asked for, suggesting the known key
// it most likely misspells, and says whether there was one.
func (t *table) unknown() (found bool) {
	for _, k := range sortedKeys(t.m) {
		if t.known[k] {
			continue
		}
		msg := "unknown key"
		if s := closest(k, t.known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		t.c.keyErrorf(t.path.key(k), "%s", msg)
		found = true
	}
	return found
}

func (c *checker) typeError(p keyPath, want string, got any) {
	c.valueErrorf(p, "must be %s, not %s", want, tomlType(got))
}

// tomlType names the TOML type of a value from the generic tree.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date/time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "an unknown type"
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func orList(words []string) string {
	s := ""
	for i, w := range words {
		switch {
		case i == 0:
		case i == len(words)-1:
			s += " or "
		default:
			s += ", "
		}
		s += w
	}
	return s
}

// closest returns the known key within two edits of k, if exactly one
// distance wins; a guess that might be wrong is worse than none.
func closest(k string, known map[string]bool) string {
	best, bestDist, tie := "", 3, false
	for cand := range known {
		d := editDistance(k, cand)
		switch {
		case d < bestDist:
			best, bestDist, tie = cand, d, false
		case d == bestDist:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance over bytes; keys are ASCII.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
