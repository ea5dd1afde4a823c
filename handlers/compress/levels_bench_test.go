package compress

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// The level of each coding for streams is picked from these numbers: the
// throughput a stream gets on one core, against the bytes it saves. Real
// text from Go's own distribution, an HTML page and a JavaScript file, so
// that the ratios are those of a site and not of generated text.
//
//	go test ./handlers/compress -run '^$' -bench Level -benchtime 20x

func levelCorpus(b *testing.B) map[string][]byte {
	root := runtime.GOROOT()
	files := map[string]string{
		"html": filepath.Join(root, "doc", "go_spec.html"),
		"js":   filepath.Join(root, "lib", "wasm", "wasm_exec.js"),
	}
	corpus := make(map[string][]byte)
	for name, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Skipf("corpus file missing: %v", err)
		}
		corpus[name] = data
	}
	return corpus
}

type levelCase struct {
	coding string
	level  int
	writer func(io.Writer) resettable
}

type resettable interface {
	io.WriteCloser
	Reset(io.Writer)
}

func levelCases() []levelCase {
	var cases []levelCase
	for _, l := range []int{1, 3, 5, 6, 9} {
		cases = append(cases, levelCase{"gzip", l, func(w io.Writer) resettable {
			zw, _ := gzip.NewWriterLevel(w, l)
			return zw
		}})
	}
	for _, l := range []int{0, 2, 4, 5, 6, 11} {
		cases = append(cases, levelCase{"br", l, func(w io.Writer) resettable {
			return brotli.NewWriterLevel(w, l)
		}})
	}
	for _, l := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression} {
		cases = append(cases, levelCase{"zstd", int(l), func(w io.Writer) resettable {
			zw, _ := zstd.NewWriter(w, zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(1),
				zstd.WithWindowSize(streamWindow), zstd.WithLowerEncoderMem(true))
			return zw
		}})
	}
	return cases
}

// BenchmarkStreamLevel reports MB/s of input and "ratio", the compressed
// size over the original, per coding and level. The writer is made once
// and reset for each round, as a pooled encoder is.
func BenchmarkStreamLevel(b *testing.B) {
	corpus := levelCorpus(b)
	for _, name := range []string{"html", "js"} {
		src := corpus[name]
		for _, c := range levelCases() {
			b.Run(fmt.Sprintf("%s/%s-%d", name, c.coding, c.level), func(b *testing.B) {
				var out bytes.Buffer
				w := c.writer(&out)
				b.SetBytes(int64(len(src)))
				for b.Loop() {
					out.Reset()
					w.Reset(&out)
					w.Write(src)
					w.Close()
				}
				b.ReportMetric(float64(out.Len())/float64(len(src)), "ratio")
			})
		}
	}
}
