package cloud

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// ownBody is an HTTP client that hands the transport a request body of
// its own. smithy-go closes the body of the request it built as soon as
// Do returns, that is once the response's headers are in, while
// net/http's write loop may not be done with it: after writing
// ContentLength bytes it reads once more to check for extra bytes. When
// the answer comes back first (a nearby endpoint, a busy machine), that
// read fails on the closed body, the write loop closes the connection,
// and the response body, still being read, fails with "use of closed
// network connection": the SDK logs "failed to discard remaining HTTP
// response body" and retries the call after a backoff of up to seconds
// (aws/aws-sdk-go-v2#1825, #2737). Against the simulator 55 to 89 of 300
// attempts failed that way; with a body of its own, none. Query-protocol
// request bodies are small forms: copying one costs nothing.
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
