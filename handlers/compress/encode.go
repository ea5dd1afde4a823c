package compress

import (
	"bytes"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Levels. A body compressed once and kept (a small static file) is made
// at each coding's best level: it costs once, and every later response is
// smaller. A stream is compressed as it flows, per request, at a level
// chosen for speed; the numbers behind the choice are in
// docs/BENCHMARKS.md ("Compression levels").
const (
	storedGzipLevel   = gzip.BestCompression
	storedBrotliLevel = brotli.BestCompression
	storedZstdLevel   = zstd.SpeedBestCompression

	streamGzipLevel   = 5
	streamBrotliLevel = 4
	streamZstdLevel   = zstd.SpeedDefault
)

// streamWindow bounds zstd's window for streams: the default window of a
// fast level is 8 MiB of encoder memory per response in flight.
const streamWindow = 256 << 10

var storedZstd = sync.OnceValue(func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(storedZstdLevel), zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err) // only for options this package does not pass
	}
	return enc
})

// Encode returns src compressed with c at its best level, for a body
// compressed once and kept.
func Encode(c Coding, src []byte) []byte {
	var buf bytes.Buffer
	switch c {
	case Zstd:
		return storedZstd().EncodeAll(src, make([]byte, 0, len(src)/2))
	case Gzip:
		zw, _ := gzip.NewWriterLevel(&buf, storedGzipLevel)
		zw.Write(src)
		zw.Close()
	case Brotli:
		bw := brotli.NewWriterLevel(&buf, storedBrotliLevel)
		bw.Write(src)
		bw.Close()
	default:
		return src
	}
	return buf.Bytes()
}

// Encoder compresses a stream into the writer it was made for. Close ends
// the coding (its trailer goes out) and gives the encoder back to be
// reused; it must not be used after.
type Encoder struct {
	c    Coding
	gz   *gzip.Writer
	br   *brotli.Writer
	zs   *zstd.Encoder
	dest io.Writer
}

var encoderPools [Gzip + 1]sync.Pool

// NewEncoder returns a pooled stream encoder for c writing to dest.
func NewEncoder(c Coding, dest io.Writer) *Encoder {
	if e, ok := encoderPools[c].Get().(*Encoder); ok {
		e.reset(dest)
		return e
	}
	e := &Encoder{c: c, dest: dest}
	switch c {
	case Gzip:
		e.gz, _ = gzip.NewWriterLevel(dest, streamGzipLevel)
	case Brotli:
		e.br = brotli.NewWriterLevel(dest, streamBrotliLevel)
	case Zstd:
		var err error
		e.zs, err = zstd.NewWriter(dest, zstd.WithEncoderLevel(streamZstdLevel), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(streamWindow), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err) // only for options this package does not pass
		}
	}
	return e
}

func (e *Encoder) reset(dest io.Writer) {
	e.dest = dest
	switch e.c {
	case Gzip:
		e.gz.Reset(dest)
	case Brotli:
		e.br.Reset(dest)
	case Zstd:
		e.zs.Reset(dest)
	}
}

func (e *Encoder) Write(p []byte) (int, error) {
	switch e.c {
	case Gzip:
		return e.gz.Write(p)
	case Brotli:
		return e.br.Write(p)
	case Zstd:
		return e.zs.Write(p)
	}
	return e.dest.Write(p)
}

// Flush writes out what has been compressed so far, so that a stream's
// reader can decode it now.
func (e *Encoder) Flush() error {
	switch e.c {
	case Gzip:
		return e.gz.Flush()
	case Brotli:
		return e.br.Flush()
	case Zstd:
		return e.zs.Flush()
	}
	return nil
}

// Close ends the stream and returns the encoder to its pool.
func (e *Encoder) Close() error {
	var err error
	switch e.c {
	case Gzip:
		err = e.gz.Close()
	case Brotli:
		err = e.br.Close()
	case Zstd:
		err = e.zs.Close()
	}
	e.reset(io.Discard) // keeps nothing of the response alive in the pool
	encoderPools[e.c].Put(e)
	return err
}
