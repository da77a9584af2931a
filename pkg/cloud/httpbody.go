package cloud

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// ownBody is an HTTP client that hands the transport a request body of
// its own. The cause of lost responses (aws/aws-sdk-go-v2#1825, #2737),
// step by step, with smithy-go v1.28 and Go 1.26's net/http:
//
//   - smithy-go wraps the body in a safeReadCloser; net/http does not know
//     it as an in-memory reader, so it flushes the headers first and the
//     body goes to the socket straight from the reader (bufio's ReadFrom);
//   - the server has the whole request and answers; Do returns once the
//     response's headers are in, and smithy-go closes the body it built;
//   - the write loop, having written ContentLength bytes, copies the body
//     once more to check for extra bytes; that copy uses the closed body's
//     WriteTo, which returns io.EOF (not 0, nil): a write error;
//   - the write loop closes the connection, and the response body, still
//     being decoded, fails with "use of closed network connection"; the
//     SDK logs "failed to discard remaining HTTP response body" and, with
//     attempts left, retries after a backoff (with MaxAttempts 1 the call
//     fails: TestErrorWithoutACode's first read, 11 runs of 80).
//
// A bytes.Reader body is one net/http knows as in memory: the request is
// written whole, before any answer, and nothing reads it afterwards.
// Query-protocol request bodies are small forms: copying one costs nothing.
type ownBody struct {
	next aws.HTTPClient
}

func (c ownBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return c.next.Do(req)
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("read the request body: %w", err)
	}
	own := req.Clone(req.Context())
	own.Body = io.NopCloser(bytes.NewReader(b))
	own.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	own.ContentLength = int64(len(b))
	return c.next.Do(own)
}
