package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moreweb/moreweb/internal/testkit"
)

// siteFiles is the tree every test config can refer to. A name ending in
// "/" is a directory.
var siteFiles = map[string]string{
	"site/index.html":  "<h1>hi</h1>",
	"site/sub/":        "",
	"pages/about.html": "about",
	"tmpl/ok.html":     `<p>{{.Path}}</p>`,
	"tmpl/bad.html":    "<p>\n{{.Path</p>",
	"errors/404.html":  "not found",
	"errors/500.html":  "oops",
	"file.txt":         "not a directory",
}

// newSite writes siteFiles into a fresh directory and returns it.
func newSite(t testing.TB) string {
	t.Helper()
	return testkit.Tree(t, siteFiles)
}

// writeConfig writes src (minus the newline that starts a raw string
// literal, so line 1 is the first line of the literal) as site.toml.
func writeConfig(t testing.TB, dir, src string) string {
	t.Helper()
	path := filepath.Join(dir, "site.toml")
	if err := os.WriteFile(path, []byte(strings.TrimPrefix(src, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustLoad loads src from a fresh site and fails the test on any error.
func mustLoad(t *testing.T, src string) (*Config, string) {
	t.Helper()
	dir := newSite(t)
	cfg, err := Load(writeConfig(t, dir, src))
	if err != nil {
		t.Fatalf("Load: unexpected errors:\n%v", err)
	}
	return cfg, dir
}

// want is one expected diagnostic: exact place and key, message substring.
type want struct {
	line, col int
	key, msg  string
}

type errCase struct {
	name string
	src  string
	want []want
	// files are written into the site before the config loads.
	files map[string]string
}

// runErrCases loads each case from a fresh site and requires exactly the
// wanted diagnostics, in order, each with the file name.
func runErrCases(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := newSite(t)
			testkit.WriteTree(t, dir, tc.files)
			path := writeConfig(t, dir, tc.src)
			cfg, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded (%d vhosts), want %d errors", len(cfg.Vhosts), len(tc.want))
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want ErrorList", err)
			}
			checkDiags(t, list, path, tc.want)
		})
	}
}

func checkDiags(t *testing.T, list ErrorList, file string, wants []want) {
	t.Helper()
	ok := len(list) == len(wants)
	for i := 0; ok && i < len(list); i++ {
		d, w := list[i], wants[i]
		ok = d.File == file && d.Line == w.line && d.Col == w.col && d.Key == w.key && strings.Contains(d.Msg, w.msg)
	}
	if ok {
		return
	}
	var got, exp strings.Builder
	for _, d := range list {
		got.WriteString("\t" + d.String() + "\n")
	}
	for _, w := range wants {
		exp.WriteString("\t" + (Diagnostic{File: file, Line: w.line, Col: w.col, Key: w.key, Msg: "…" + w.msg + "…"}).String() + "\n")
	}
	t.Errorf("diagnostics:\n%swant:\n%s", got.String(), exp.String())
}
