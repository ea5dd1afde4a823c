package parser

import (
	"errors"
	"io"
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

func badGateway(reason string) *Error { return &Error{Status: 502, Reason: reason} }

// Every refusal of a backend's response, allocated once. A proxy answers
// each with 502 and closes the connection to the backend (RFC 9112 §6.3,
// item 5): after a malformed response nothing on it can be trusted.
var (
	errStatusLine         = badGateway("malformed status line")
	errResponseVersion    = badGateway("response version not HTTP/1.0 or HTTP/1.1")
	errStatusCode         = badGateway("status code out of range")
	errReasonPhrase       = badGateway("invalid byte in reason phrase")
	errSwitchHTTP10       = badGateway("101 in an HTTP/1.0 response")
	errRespContentLength  = badGateway("invalid Content-Length in response")
	errRespCLConflict     = badGateway("conflicting Content-Length values in response")
	errRespCLAndTE        = badGateway("both Content-Length and Transfer-Encoding in response")
	errRespTEHTTP10       = badGateway("Transfer-Encoding in HTTP/1.0 response")
	errRespTE             = badGateway("Transfer-Encoding in response is not chunked alone")
	errRespBareCR         = badGateway("bare CR in response")
	errRespBareLF         = badGateway("bare LF in response")
	errRespFieldName      = badGateway("invalid header field name in response")
	errRespSpaceColon     = badGateway("whitespace between field name and colon in response")
	errRespNoColon        = badGateway("header line without colon in response")
	errRespObsFold        = badGateway("obsolete line folding in response")
	errRespFieldValue     = badGateway("invalid byte in response header field value")
	errRespHeadTooLarge   = badGateway("response header section too large")
	errRespTooManyFields  = badGateway("too many response header fields")
	errRespChunkSize      = badGateway("malformed chunk size in response")
	errRespChunkExt       = badGateway("malformed chunk extension in response")
	errRespChunkExtLong   = badGateway("chunk extension too long in response")
	errRespChunkCRLF      = badGateway("missing CRLF after chunk data in response")
	errRespTrailerTooLong = badGateway("response trailer section too large")
	errRespMalformed      = badGateway("malformed response")
)

// backendErrors are the 502 twins of the refusals made by the code that
// reads lines, field lines and chunked bodies for requests and responses
// alike. A body that ends early is no refusal: the backend went away, and
// io.ErrUnexpectedEOF says so as it does for a head.
var backendErrors = map[*Error]error{
	errBareCR:           errRespBareCR,
	errBareLF:           errRespBareLF,
	errFieldName:        errRespFieldName,
	errSpaceBeforeColon: errRespSpaceColon,
	errNoColon:          errRespNoColon,
	errObsFold:          errRespObsFold,
	errFieldValue:       errRespFieldValue,
	errHeadTooLarge:     errRespHeadTooLarge,
	errTooManyFields:    errRespTooManyFields,
	errChunkSize:        errRespChunkSize,
	errChunkExt:         errRespChunkExt,
	errChunkExtTooLong:  errRespChunkExtLong,
	errChunkCRLF:        errRespChunkCRLF,
	errTrailerTooLarge:  errRespTrailerTooLong,
	errBodyTruncated:    io.ErrUnexpectedEOF,
}

// toBackend turns a refusal by the shared code into its 502 twin. Any other
// *Error becomes errRespMalformed, so that a response is never refused with
// a status meant for a client; other errors (I/O, ErrNeedMore) pass.
func toBackend(err error) error {
	e, ok := err.(*Error)
	if !ok || e.Status == 502 {
		return err
	}
	if twin, ok := backendErrors[e]; ok {
		return twin
	}
	return errRespMalformed
}
