package static

import (
	"bytes"
	"cmp"
	"html"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moreweb/moreweb/handlers"
)

// listEntry is one line of a listing.
type listEntry struct {
	name    string
	dir     bool
	size    int64
	modtime time.Time
}

// serveListing answers a directory without an index file with an HTML page
// of its entries. It hides what the handler would refuse to serve (dotfiles,
// symlinks that leave the root, devices), so the page never links to a 404.
func (s *Static) serveListing(w handlers.ResponseWriter, r *handlers.Request, fsys fileSystem, name string) error {
	dir, err := fsys.open(name)
	if err != nil {
		return openError(err)
	}
	des, err := dir.ReadDir(-1)
	dir.Close()
	if err != nil {
		return openError(err)
	}
	entries := make([]listEntry, 0, len(des))
	for _, de := range des {
		n := de.Name()
		if n[0] == '.' && !s.dotfiles && !(name == "." && n == ".well-known") {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			// Describe a link by its target, through the same file
			// system that would serve it, so an escaping one is hidden.
			rel := n
			if name != "." {
				rel = name + n
			}
			if fi, err = fsys.stat(rel); err != nil {
				continue
			}
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			continue
		}
		entries = append(entries, listEntry{name: n, dir: fi.IsDir(), size: fi.Size(), modtime: fi.ModTime()})
	}
	key := sortKey(r.RawQuery)
	sortEntries(entries, key)
	page := renderListing(r.Path, entries, key)

	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.SetContentLength(int64(len(page)))
	w.WriteHeader(200)
	if r.Method != "HEAD" {
		w.Write(page)
	}
	return nil
}

// sortKey is the value of "sort" in the query: name (default), size or time.
func sortKey(query []byte) string {
	for len(query) > 0 {
		pair := query
		if i := bytes.IndexByte(query, '&'); i >= 0 {
			pair, query = query[:i], query[i+1:]
		} else {
			query = nil
		}
		switch string(pair) {
		case "sort=size":
			return "size"
		case "sort=time":
			return "time"
		case "sort=name":
			return "name"
		}
	}
	return "name"
}

// sortEntries puts directories first, then orders by key: names A to Z,
// sizes largest first, times newest first (what one looks for when sorting
// by them); ties fall back to the name so the order is stable.
func sortEntries(es []listEntry, key string) {
	slices.SortFunc(es, func(a, b listEntry) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		c := 0
		switch key {
		case "size":
			c = cmp.Compare(b.size, a.size)
		case "time":
			c = b.modtime.Compare(a.modtime)
		}
		if c == 0 {
			c = strings.Compare(a.name, b.name)
		}
		return c
	})
}

const listingHead = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of `

const listingStyle = `</title>
<style>
body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:60rem;padding:0 1rem;line-height:1.4}
h1{font-size:1.25rem;word-break:break-all}
table{border-collapse:collapse;width:100%}
th,td{padding:.35rem .5rem;text-align:left;border-bottom:1px solid #ddd}
td:first-child{word-break:break-all}
.n{text-align:right;white-space:nowrap}
th a{color:inherit}
@media (max-width:32rem){.t{display:none}}
</style>
</head>
<body>
<h1>Index of `

// renderListing writes the page. Names are escaped twice over: HTML-escaped
// for the text, and percent-encoded segment by segment for the href, so a
// name with "?", "#", ":" or quotes still links to itself.
func renderListing(dirPath []byte, es []listEntry, key string) []byte {
	title := html.EscapeString(strings.ToValidUTF8(string(dirPath), "\uFFFD"))
	b := make([]byte, 0, 1024+len(es)*160)
	b = append(b, listingHead...)
	b = append(b, title...)
	b = append(b, listingStyle...)
	b = append(b, title...)
	b = append(b, "</h1>\n<table>\n<thead><tr>"...)
	for _, col := range [...]struct{ key, label, class, order string }{
		{"name", "Name", "", "ascending"},
		{"size", "Size", ` class="n"`, "descending"},
		{"time", "Modified", ` class="n t"`, "descending"},
	} {
		b = append(b, "<th"...)
		b = append(b, col.class...)
		if col.key == key {
			b = append(b, ` aria-sort="`...)
			b = append(b, col.order...)
			b = append(b, '"')
		}
		b = append(b, `><a href="?sort=`...)
		b = append(b, col.key...)
		b = append(b, `">`...)
		b = append(b, col.label...)
		b = append(b, "</a></th>"...)
	}
	b = append(b, "</tr></thead>\n<tbody>\n"...)
	if len(dirPath) > 1 {
		b = append(b, `<tr><td><a href="../">../</a></td><td class="n"></td><td class="n t"></td></tr>`+"\n"...)
	}
	for _, e := range es {
		b = append(b, `<tr><td><a href="./`...)
		b = appendEscapedSegment(b, []byte(e.name))
		if e.dir {
			b = append(b, '/')
		}
		b = append(b, `">`...)
		b = append(b, html.EscapeString(strings.ToValidUTF8(e.name, "\uFFFD"))...)
		if e.dir {
			b = append(b, '/')
		}
		b = append(b, `</a></td><td class="n">`...)
		if !e.dir {
			b = appendHumanSize(b, e.size)
		}
		b = append(b, `</td><td class="n t"><time datetime="`...)
		t := e.modtime.UTC()
		b = t.AppendFormat(b, time.RFC3339)
		b = append(b, `">`...)
		b = t.AppendFormat(b, "2006-01-02 15:04")
		b = append(b, " UTC</time></td></tr>\n"...)
	}
	b = append(b, "</tbody>\n</table>\n</body>\n</html>\n"...)
	return b
}

// appendHumanSize writes bytes below 1 KiB exactly and larger sizes in
// binary units with one decimal ("1.5 MiB").
func appendHumanSize(b []byte, n int64) []byte {
	if n < 1024 {
		b = strconv.AppendInt(b, n, 10)
		return append(b, " B"...)
	}
	const units = "KMGTPE"
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	b = strconv.AppendFloat(b, v, 'f', 1, 64)
	b = append(b, ' ', units[i], 'i', 'B')
	return b
}

// appendEscapedSegment percent-encodes everything but RFC 3986 unreserved
// characters, so the result is one path segment whatever the name holds.
func appendEscapedSegment(b, seg []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range seg {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return b
}
