package parser

import (
	"errors"
	"strconv"
)

// Error is a refusal: the status the server answers with and a short reason
// for the log. Reasons are fixed strings, so no client byte ever reaches the
// wire or the log through them.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string {
	return strconv.Itoa(e.Status) + " " + e.Reason
}

// ErrNeedMore says that the buffer holds the beginning of a valid head but not
// yet its end.
var ErrNeedMore = errors.New("parser: need more bytes")

func badRequest(reason string) *Error { return &Error{Status: 400, Reason: reason} }

// Every refusal the parser makes, allocated once.
var (
	errRequestLine      = badRequest("malformed request line")
	errMethod           = badRequest("invalid method token")
	errTargetByte       = badRequest("invalid byte in request-target")
	errTargetForm       = badRequest("request-target form not allowed for method")
	errAbsoluteTarget   = badRequest("malformed absolute-form target")
	errPercent          = badRequest("malformed percent-encoding in path")
	errNULInPath        = badRequest("NUL in path")
	errVersion          = badRequest("malformed HTTP-version")
	errVersionSupported = &Error{Status: 505, Reason: "HTTP version not supported"}
	errBareCR           = badRequest("bare CR in message head")
	errBareLF           = badRequest("bare LF in message head")
	errFieldName        = badRequest("invalid header field name")
	errSpaceBeforeColon = badRequest("whitespace between field name and colon")
	errNoColon          = badRequest("header line without colon")
	errObsFold          = badRequest("obsolete line folding")
	errFieldValue       = badRequest("invalid byte in header field value")
	errNoHost           = badRequest("missing Host header")
	errManyHosts        = badRequest("more than one Host header")
	errBadHost          = badRequest("invalid Host header")
	errContentLength    = badRequest("invalid Content-Length")
	errCLConflict       = badRequest("conflicting Content-Length values")
	errCLAndTE          = badRequest("both Content-Length and Transfer-Encoding")
	errTEHTTP10         = badRequest("Transfer-Encoding in HTTP/1.0 request")
	errTENotChunked     = badRequest("Transfer-Encoding does not end in chunked")
	errTEInvalid        = badRequest("malformed Transfer-Encoding")
	errTEUnsupported    = &Error{Status: 501, Reason: "unsupported transfer coding"}
	errExpectation      = &Error{Status: 417, Reason: "unsupported expectation"}
	errTargetTooLong    = &Error{Status: 414, Reason: "request-target too long"}
	errHeadTooLarge     = &Error{Status: 431, Reason: "request header section too large"}
	errTooManyFields    = &Error{Status: 431, Reason: "too many header fields"}
	errBodyTooLarge     = &Error{Status: 413, Reason: "request body too large"}
	errChunkSize        = badRequest("malformed chunk size")
	errChunkExt         = badRequest("malformed chunk extension")
	errChunkExtTooLong  = badRequest("chunk extension too long")
	errChunkCRLF        = badRequest("missing CRLF after chunk data")
	errTrailerTooLarge  = badRequest("trailer section too large")
	errBodyTruncated    = badRequest("request body ended early")
)
