package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
)

// snakeCase is the TOML spelling of a Go field name: MaxBodyBytes is
// max_body_bytes.
func snakeCase(name string) string {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// A field added to Server without its entry in serverKeys would be
// neither decoded, defaulted, hashed nor diffed; one with two entries
// would be decoded twice. Each entry points at the field named as its key.
func TestEveryServerFieldHasExactlyOneKey(t *testing.T) {
	var s Server
	sv := reflect.ValueOf(&s).Elem()
	owners := make([][]string, sv.NumField())
	for _, k := range serverKeys {
		p := reflect.ValueOf(k.field(&s))
		found := false
		for i := range sv.NumField() {
			f := sv.Field(i)
			if f.Addr().Pointer() == p.Pointer() && f.Type() == p.Type().Elem() {
				owners[i] = append(owners[i], k.name)
				found = true
				if want := snakeCase(sv.Type().Field(i).Name); k.name != want {
					t.Errorf("key %q fills field %s, whose key is %q", k.name, sv.Type().Field(i).Name, want)
				}
			}
		}
		if !found {
			t.Errorf("key %q points at no field of Server", k.name)
		}
	}
	for i, keys := range owners {
		if len(keys) != 1 {
			t.Errorf("field %s has %d entries in serverKeys %q, want exactly one", sv.Type().Field(i).Name, len(keys), keys)
		}
	}
}

// changeField gives field f of s another value.
func changeField(t *testing.T, f reflect.Value) {
	t.Helper()
	switch f.Kind() {
	case reflect.String:
		f.SetString(f.String() + "x")
	case reflect.Int, reflect.Int64:
		f.SetInt(f.Int() + 1)
	case reflect.Slice:
		switch f.Type() {
		case reflect.TypeFor[[]netip.Prefix]():
			f.Set(reflect.Append(f, reflect.ValueOf(netip.MustParsePrefix("192.0.2.0/24"))))
		default:
			t.Fatalf("no way to change a %s field: teach changeField", f.Type())
		}
	case reflect.Map:
		m := reflect.MakeMap(f.Type())
		m.SetMapIndex(reflect.ValueOf(599), reflect.ValueOf(ErrorPage{Path: "/p.html", Body: []byte("p")}))
		f.Set(m)
	default:
		t.Fatalf("no way to change a %s field: teach changeField", f.Type())
	}
}

// Every key is read from the file under its name, counts in the hash, and
// is named by DiffServer when it changes: live, or as needing a restart.
func TestEveryServerKeyIsDecodedHashedAndDiffed(t *testing.T) {
	dir := newSite(t)
	def := defaultServer()
	base := hashConfig(&Config{Server: def}, nil)
	for _, k := range serverKeys {
		t.Run(k.name, func(t *testing.T) {
			changed := def
			changeField(t, reflect.ValueOf(k.field(&changed)).Elem())
			if hashConfig(&Config{Server: changed}, nil) == base {
				t.Error("a change does not change the hash")
			}
			live, restart := DiffServer(&def, &changed, &def)
			switch {
			case k.restart && (len(live) != 0 || len(restart) != 1 || !strings.HasPrefix(restart[0], k.name+": ")):
				t.Errorf("DiffServer = %q, %q; want one restart line for it", live, restart)
			case !k.restart && (!reflect.DeepEqual(live, []string{k.name}) || len(restart) != 0):
				t.Errorf("DiffServer = %q, %q; want it live", live, restart)
			}

			// A date is the wrong type for every key.
			_, err := Load(writeConfig(t, dir, "[server]\n"+k.name+" = 1979-05-27\n"+
				"[[listener]]\nname = \"w\"\naddress = \"127.0.0.1:0\"\n[[vhost]]\ndefault = true\nroot = \"site\"\n"))
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 || list[0].Key != "server."+k.name {
				t.Errorf("a wrong type gave %v, want one error at server.%s", err, k.name)
			}
		})
	}
}

// DiffServer gives the reload log's strings: the live keys in the order of
// the [server] table, and a line for max_connections whenever the file
// differs from the cap the process started with.
func TestDiffServerNamesLiveKeysAndWhatNeedsARestart(t *testing.T) {
	started := defaultServer()
	old := defaultServer()
	cur := old
	cur.IdleTimeout = 5 * time.Second
	cur.MaxConnections = 50
	live, restart := DiffServer(&old, &cur, &Server{MaxConnections: started.MaxConnections})
	if fmt.Sprint(live) != "[idle_timeout]" || fmt.Sprint(restart) != "[max_connections: 10000 until a restart, the file says 50]" {
		t.Errorf("first reload: %q %q", live, restart)
	}

	// The next reload keeps 50: it is still not what runs.
	next := cur
	next.LogFormat, next.AccessLog, next.AccessLogFormat = "json", "off", "combined"
	live, restart = DiffServer(&cur, &next, &started)
	if fmt.Sprint(live) != "[log_format access_log access_log_format]" || len(restart) != 1 {
		t.Errorf("second reload: %q %q", live, restart)
	}
	// Back to what runs: nothing needs a restart, though the file changed.
	back := next
	back.MaxConnections = started.MaxConnections
	if live, restart = DiffServer(&next, &back, &started); len(live) != 0 || len(restart) != 0 {
		t.Errorf("back to the running cap: %q %q", live, restart)
	}
	// Without what runs, old stands for it.
	if _, restart = DiffServer(&old, &cur, nil); len(restart) != 1 {
		t.Errorf("running nil: %q", restart)
	}

	// A page is its path and its bytes; an empty table is no pages.
	withPage := old
	withPage.ErrorPages = ErrorPages{404: {Path: "/e/404.html", Body: []byte("a")}}
	edited := old
	edited.ErrorPages = ErrorPages{404: {Path: "/e/404.html", Body: []byte("b")}}
	empty := old
	empty.ErrorPages = ErrorPages{}
	cases := []struct {
		name     string
		from, to *Server
		want     string
	}{
		{"page added", &old, &withPage, "[error_pages]"},
		{"page edited", &withPage, &edited, "[error_pages]"},
		{"empty table", &old, &empty, "[]"},
		{"unchanged", &withPage, &withPage, "[]"},
	}
	for _, c := range cases {
		if live, _ := DiffServer(c.from, c.to, &started); fmt.Sprint(live) != c.want {
			t.Errorf("%s: live %q, want %s", c.name, live, c.want)
		}
	}
}
