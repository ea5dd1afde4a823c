package static

// The table is built in rather than read from the system (/etc/mime.types,
// Go's mime package) so that a site answers with the same types on every
// machine it is deployed to.

// ContentType is the media type for a file name, from its extension (case
// ignored): text types carry "; charset=utf-8", and an unknown or missing
// extension is application/octet-stream, which browsers download rather
// than guess at (nosniff forbids guessing anyway).
func ContentType(name string) string {
	ext := ""
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == '.' {
			ext = name[i+1:]
			break
		}
	}
	if ext == "" || len(ext) > maxExtLen {
		return octetStream
	}
	var buf [maxExtLen]byte
	lower := buf[:len(ext)]
	for i := 0; i < len(ext); i++ {
		c := ext[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	if t, ok := mimeTypes[string(lower)]; ok {
		return t
	}
	return octetStream
}

const (
	octetStream = "application/octet-stream"
	maxExtLen   = 16
	utf8        = "; charset=utf-8"
)

var mimeTypes = map[string]string{
	// Documents and code.
	"html":        "text/html" + utf8,
	"htm":         "text/html" + utf8,
	"xhtml":       "application/xhtml+xml" + utf8,
	"css":         "text/css" + utf8,
	"js":          "text/javascript" + utf8,
	"mjs":         "text/javascript" + utf8,
	"json":        "application/json",
	"map":         "application/json",
	"jsonld":      "application/ld+json",
	"webmanifest": "application/manifest+json",
	"xml":         "text/xml" + utf8,
	"xsl":         "text/xml" + utf8,
	"rss":         "application/rss+xml",
	"atom":        "application/atom+xml",
	"txt":         "text/plain" + utf8,
	"text":        "text/plain" + utf8,
	"md":          "text/markdown" + utf8,
	"csv":         "text/csv" + utf8,
	"tsv":         "text/tab-separated-values" + utf8,
	"vtt":         "text/vtt" + utf8,
	"ics":         "text/calendar" + utf8,
	"yaml":        "text/yaml" + utf8,
	"yml":         "text/yaml" + utf8,
	"toml":        "application/toml",
	"wasm":        "application/wasm",
	"pdf":         "application/pdf",
	"rtf":         "application/rtf",
	"epub":        "application/epub+zip",

	// Images.
	"png":  "image/png",
	"apng": "image/apng",
	"jpg":  "image/jpeg",
	"jpeg": "image/jpeg",
	"gif":  "image/gif",
	"webp": "image/webp",
	"avif": "image/avif",
	"jxl":  "image/jxl",
	"svg":  "image/svg+xml",
	"ico":  "image/vnd.microsoft.icon",
	"bmp":  "image/bmp",
	"tif":  "image/tiff",
	"tiff": "image/tiff",

	// Fonts.
	"woff":  "font/woff",
	"woff2": "font/woff2",
	"ttf":   "font/ttf",
	"otf":   "font/otf",
	"eot":   "application/vnd.ms-fontobject",

	// Audio and video.
	"mp3":  "audio/mpeg",
	"m4a":  "audio/mp4",
	"aac":  "audio/aac",
	"oga":  "audio/ogg",
	"ogg":  "audio/ogg",
	"opus": "audio/ogg",
	"wav":  "audio/wav",
	"flac": "audio/flac",
	"mp4":  "video/mp4",
	"m4v":  "video/mp4",
	"webm": "video/webm",
	"ogv":  "video/ogg",
	"mov":  "video/quicktime",
	"mkv":  "video/x-matroska",
	"m3u8": "application/vnd.apple.mpegurl",

	// Archives. A .gz, .br or .zst asked for by name is the archive itself;
	// as a sidecar it is sent with the original's type instead.
	"zip": "application/zip",
	"gz":  "application/gzip",
	"tgz": "application/gzip",
	"br":  "application/x-brotli",
	"zst": "application/zstd",
	"bz2": "application/x-bzip2",
	"xz":  "application/x-xz",
	"tar": "application/x-tar",
	"7z":  "application/x-7z-compressed",
}
