package config

import (
	"errors"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic or hang,
// and must either return a config or a non-empty ErrorList whose entries
// all name the file.
func FuzzParse(f *testing.F) {
	dir := newSite(f)
	file := filepath.Join(dir, "site.toml")
	for _, seed := range []string{
		specExample,
		"",
		"[[vhost]]\nrooot = 1\n",
		"[[listener]]\nname = \"w\"\naddress = \":0\"\n[[vhost]]\ndefault = true\nroot = \"site\"\n",
		"vhost = [{ hosts = [\"a\"], redirect = [{from=\"/a\", to=\"/b\", status=300}] }]\n",
		"[vhost.paths]\n\"/x\" = { file = \"tmpl/bad.html\", template = true }\n",
		"a = \"\"\"\n[[b]]\n\"\"\"\n[[c]]\nd = '''x'''\n",
		"\xef\xbb\xbf[server]\r\nmax_body_bytes = -1\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The locator must survive input the TOML parser rejects, too.
		newLocator(data).find(path("vhost", 0, "root"), true)

		cfg, err := Parse(file, data)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without an error")
			}
			return
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
		}
		for _, d := range list {
			if d.File != file || d.Msg == "" || d.Line < 0 || d.Col < 0 {
				t.Fatalf("bad diagnostic %+v", d)
			}
		}
	})
}
