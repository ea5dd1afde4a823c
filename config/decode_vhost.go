package config

import (
	"html/template"
	"strings"
)

func (c *checker) paths(t *table) []PathEntry {
	if t == nil {
		return nil
	}
	var entries []PathEntry
	for _, k := range t.keys() {
		p := t.path.key(k)
		if !strings.HasPrefix(k, "/") {
			c.keyErrorf(p, "a URL path must start with \"/\"")
		}
		file, filePath, isTemplate, ok := "", p, false, false
		switch v := t.m[k].(type) {
		case string:
			file, ok = v, true
		case map[string]any:
			e := c.table(p, v)
			if file, filePath, ok = e.str("file"); !ok && !e.has("file") {
				c.keyErrorf(filePath, "missing; the entry needs the file to serve")
			}
			isTemplate = e.boolean("template", false)
			e.unknown()
		default:
			c.typeError(p, `a file path or a table like { file = "page.html", template = true }`, v)
		}
		if !ok {
			continue
		}
		abs, ok := c.resolve(filePath, file)
		if !ok {
			continue
		}
		entry := PathEntry{URLPath: k, File: abs}
		if isTemplate {
			entry.Template = c.template(filePath, file, abs)
		} else if msg := checkFile(abs); msg != "" {
			c.valueErrorf(filePath, "%s", msg)
		}
		entries = append(entries, entry)
	}
	return entries
}

// template reads and parses the template at abs, named as the user wrote
// it so html/template's messages point at a file they recognize.
func (c *checker) template(p keyPath, name, abs string) *template.Template {
	data, msg := c.readOnce(abs)
	if msg != "" {
		c.valueErrorf(p, "%s", msg)
		return nil
	}
	tmpl, err := template.New(name).Parse(string(data))
	if err != nil {
		c.valueErrorf(p, "template does not parse: %v", err)
		return nil
	}
	return tmpl
}

func (c *checker) headers(t *table) []HeaderField {
	if t == nil {
		return nil
	}
	var fields []HeaderField
	// TOML keys are case-sensitive and header names are not, so
	// "Cache-Control" and "cache-control" would both be accepted by TOML.
	first := map[string]string{}
	for _, k := range t.keys() {
		p := t.path.key(k)
		lower := strings.ToLower(k)
		switch {
		case !isToken(k):
			c.keyErrorf(p, "%q is not a valid header name", k)
		case framingHeaders[lower]:
			c.keyErrorf(p, "%s is managed by the server and cannot be set here", k)
		case first[lower] != "":
			c.keyErrorf(p, "same header as %q", first[lower])
		default:
			first[lower] = k
		}
		v, ok := t.m[k].(string)
		if !ok {
			c.typeError(p, "a string", t.m[k])
			continue
		}
		// RFC 9110 §5.5: surrounding whitespace is not part of the value.
		v = strings.Trim(v, " \t")
		if hasCTL(v, true) {
			c.valueErrorf(p, "a header value must not contain control characters such as CR, LF or NUL")
			continue
		}
		fields = append(fields, HeaderField{Name: k, Value: v})
	}
	return fields
}

func (c *checker) redirects(ts []*table) []Redirect {
	var rs []Redirect
	seen := map[string]int{}
	for i, t := range ts {
		r := Redirect{Status: 301}
		from, fp, fromOK := t.str("from")
		if fromOK {
			if msg := checkRedirectFrom(from); msg != "" {
				c.valueErrorf(fp, "%s", msg)
			} else if j, dup := seen[from]; dup {
				c.valueErrorf(fp, "%q is already redirected by %s", from, t.path[:len(t.path)-1].index(j))
			} else {
				seen[from] = i
			}
			r.From = from
		} else if !t.has("from") {
			c.keyErrorf(fp, "missing; a redirect needs the path it redirects from")
		}
		to, tp, toOK := t.str("to")
		switch {
		case toOK && to == "":
			c.valueErrorf(tp, "must not be empty")
		case toOK && hasCTL(to, false):
			c.valueErrorf(tp, "must not contain control characters such as CR, LF or NUL")
		case !toOK && !t.has("to"):
			c.keyErrorf(tp, "missing; a redirect needs the URL it redirects to")
		}
		r.To = to
		if n, sp, ok := t.integer("status"); ok {
			switch n {
			case 301, 302, 303, 307, 308:
				r.Status = int(n)
			default:
				c.valueErrorf(sp, "%d is not a redirect status; use 301, 302, 303, 307 or 308", n)
			}
		}
		t.unknown()
		rs = append(rs, r)
	}
	return rs
}
