package config

import (
	"reflect"
	"testing"
)

func TestCompressNamesKnownCodingsOnceEach(t *testing.T) {
	runErrCases(t, []errCase{{
		name: "an unknown coding, one twice",
		src: `
[[listener]]
name = "web"
address = "127.0.0.1:0"

[[vhost]]
default = true
root = "site"
compress = ["gzip", "deflate", "GZIP"]
`,
		want: []want{
			{8, 21, "vhost[0].compress[1]", `"deflate" is not a coding moreweb compresses with (zstd, br, gzip)`},
			{8, 32, "vhost[0].compress[2]", `"GZIP" is listed twice`},
		},
	}})
}

func TestCompressDefaultsToZstdBrotliGzipAndEmptyTurnsItOff(t *testing.T) {
	for _, tt := range []struct {
		line string
		want []string
	}{
		{"", []string{"zstd", "br", "gzip"}},
		{`compress = []`, []string{}},
		{`compress = ["br", "gzip"]`, []string{"br", "gzip"}},
	} {
		cfg, _ := mustLoad(t, "[[listener]]\nname = \"web\"\naddress = \"127.0.0.1:0\"\n[[vhost]]\ndefault = true\nroot = \"site\"\n"+tt.line+"\n")
		if got := cfg.Vhosts[0].Compress; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: Compress = %q, want %q", tt.line, got, tt.want)
		}
	}
}
