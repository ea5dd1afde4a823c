package static

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func listingSite(t *testing.T) string {
	t.Helper()
	base := writeTree(t, map[string]string{
		"root/list/a.txt":                   strings.Repeat("a", 10),
		"root/list/b.txt":                   strings.Repeat("b", 2000),
		"root/list/c.txt":                   strings.Repeat("c", 5),
		"root/list/z/x":                     "",
		"root/list/z/":                      "",
		"root/list/c dir/x":                 "",
		"root/list/c dir/":                  "",
		"root/list/in.txt":                  "->a.txt",
		"root/list/<script>&\"q\".txt":      "",
		"root/list/what?#.txt":              "",
		"root/list/colon:x.txt":             "",
		"root/list/.hidden":                 "",
		"root/<b>/x":                        "",
		"root/.well-known/security.txt":     "",
		"outside/secret.txt":                "",
		"root/list/big.iso":                 "",
		"root/list/\xff-not-utf8.txt":       "",
		"root/list/index.html.not-an-index": "",
	})
	root := filepath.Join(base, "root")
	later := testTime.Add(time.Hour)
	must(t, os.Chtimes(filepath.Join(root, "list/c.txt"), later, later))
	must(t, os.Symlink(filepath.Join(base, "outside/secret.txt"), filepath.Join(root, "list/out")))
	return root
}

// A listing is valid, phone-friendly HTML5 with directories first, names
// escaped in the text and percent-encoded in links, sizes, ISO dates and a
// parent link; a file name must not inject markup, and a listing must not
// reveal what would not be served.
func TestListingIsEscapedHTMLOfOnlyWhatWouldBeServed(t *testing.T) {
	root := listingSite(t)
	s := newStatic(t, Options{Root: root, Listing: true})
	rec, err := do(t, s, "GET", "/list/")
	if err != nil || rec.Code != 200 {
		t.Fatalf("got %d %v", rec.Code, err)
	}
	checkBodyLength(t, "GET", rec)
	if got := rec.Head.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if rec.Head.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	page := rec.Body.String()
	for _, want := range []string{
		"<!DOCTYPE html>\n<html lang=\"en\">",
		`<meta charset="utf-8">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		"<title>Index of /list/</title>",
		`<a href="../">../</a>`,
		`<a href="./c%20dir/">c dir/</a>`,
		`<a href="./%3Cscript%3E%26%22q%22.txt">&lt;script&gt;&amp;&#34;q&#34;.txt</a>`,
		`<a href="./what%3F%23.txt">what?#.txt</a>`,
		`<a href="./colon%3Ax.txt">colon:x.txt</a>`,
		`<a href="./%FF-not-utf8.txt">` + "\uFFFD-not-utf8.txt</a>",
		`<a href="./in.txt">in.txt</a></td><td class="n">10 B</td>`,
		`<a href="./b.txt">b.txt</a></td><td class="n">2.0 KiB</td>`,
		`<time datetime="2024-03-01T12:00:00Z">2024-03-01 12:00 UTC</time>`,
		`<th aria-sort="ascending"><a href="?sort=name">Name</a></th>`,
		"</table>\n</body>\n</html>\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("listing lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("a file name reached the page unescaped")
	}
	for _, hidden := range []string{".hidden", "out"} {
		if strings.Contains(page, `href="./`+hidden+`"`) || strings.Contains(page, ">"+hidden+"<") {
			t.Errorf("listing shows %q", hidden)
		}
	}
	for _, tag := range []string{"tr", "td", "th", "a", "table", "tbody", "thead", "time"} {
		if o, c := strings.Count(page, "<"+tag+">")+strings.Count(page, "<"+tag+" "), strings.Count(page, "</"+tag+">"); o != c {
			t.Errorf("<%s> opened %d times, closed %d", tag, o, c)
		}
	}

	head, _ := do(t, s, "HEAD", "/list/")
	if head.Body.Len() != 0 || head.ContentLength != rec.ContentLength {
		t.Errorf("HEAD: body %d, length %d; GET length %d", head.Body.Len(), head.ContentLength, rec.ContentLength)
	}
}

// Directories always first, then ?sort=name (A to Z), size (largest first)
// or time (newest first).
func TestListingPutsDirectoriesFirstThenSortsByTheQuery(t *testing.T) {
	root := listingSite(t)
	s := newStatic(t, Options{Root: root, Listing: true})
	tests := []struct {
		query string
		order []string
	}{
		{"", []string{"c dir/", "z/", "a.txt", "b.txt", "c.txt"}},
		{"?sort=name", []string{"c dir/", "z/", "a.txt", "b.txt", "c.txt"}},
		{"?sort=size", []string{"c dir/", "z/", "b.txt", "a.txt", "c.txt"}},
		{"?sort=time", []string{"c dir/", "z/", "c.txt", "a.txt", "b.txt"}},
		{"?x=1&sort=size&y", []string{"c dir/", "z/", "b.txt", "a.txt", "c.txt"}},
		{"?sort=bogus", []string{"c dir/", "z/", "a.txt", "b.txt", "c.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec, err := do(t, s, "GET", "/list/"+tt.query)
			if err != nil {
				t.Fatal(err)
			}
			page := rec.Body.String()
			last := -1
			for _, name := range tt.order {
				i := strings.Index(page, ">"+name+"</a>")
				if i < 0 {
					t.Fatalf("%q not listed", name)
				}
				if i < last {
					t.Errorf("%q out of order in %v", name, tt.order)
				}
				last = i
			}
		})
	}
}

func TestListingAtTheRootHasNoParentAndListsTheDotNamesServed(t *testing.T) {
	root := listingSite(t)
	s := newStatic(t, Options{Root: root, Listing: true})
	rec, _ := do(t, s, "GET", "/")
	page := rec.Body.String()
	if strings.Contains(page, `href="../"`) {
		t.Error("the root lists a parent")
	}
	if !strings.Contains(page, `<a href="./.well-known/">.well-known/</a>`) {
		t.Error("/.well-known/ is served, so it is listed")
	}
	rec, _ = do(t, s, "GET", "/%3Cb%3E/")
	if !strings.Contains(rec.Body.String(), "<title>Index of /&lt;b&gt;/</title>") {
		t.Error("directory name not escaped in the title")
	}
	dots := newStatic(t, Options{Root: root, Listing: true, ServeDotfiles: true})
	rec, _ = do(t, dots, "GET", "/list/")
	if !strings.Contains(rec.Body.String(), ">.hidden</a>") {
		t.Error("dotfiles served but not listed")
	}
}

func TestListingSizesUseBinaryUnitsWithOneDecimal(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{1 << 20, "1.0 MiB"}, {5 << 30, "5.0 GiB"}, {3 << 40, "3.0 TiB"},
	}
	for _, tt := range tests {
		if got := string(appendHumanSize(nil, tt.n)); got != tt.want {
			t.Errorf("humanSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
