package cloud

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// lateReader is an HTTP client whose transport, like net/http's write
// loop, reads the request body after it has answered: after the caller
// closed the body it built.
type lateReader struct {
	read chan string
}

func (c lateReader) Do(req *http.Request) (*http.Response, error) {
	go func() {
		<-req.Context().Done() // the caller has closed its body and finished
		b, err := io.ReadAll(req.Body)
		if err != nil {
			c.read <- "error: " + err.Error()
			return
		}
		c.read <- string(b)
	}()
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

// closeOnRead is a request body as smithy-go builds one (a safeReadCloser
// over a reader with WriteTo): once closed, Read returns io.EOF and WriteTo
// returns io.EOF, which io.Copy, and so net/http's write loop, takes for a
// failure.
type closeOnRead struct {
	r      *strings.Reader
	closed bool
}

func (b *closeOnRead) Read(p []byte) (int, error) {
	if b.closed {
		return 0, io.EOF
	}
	return b.r.Read(p)
}

func (b *closeOnRead) WriteTo(w io.Writer) (int64, error) {
	if b.closed {
		return 0, io.EOF
	}
	return b.r.WriteTo(w)
}

func (b *closeOnRead) Close() error { b.closed = true; return nil }

// The fake fails as the real body does: a copy after Close is an error.
func TestClosedSmithyBodyFailsACopy(t *testing.T) {
	body := &closeOnRead{r: strings.NewReader("Action=DescribeInstances")}
	body.Close()
	if _, err := io.Copy(io.Discard, body); err != io.EOF {
		t.Fatalf("copy of a closed body: %v, want io.EOF as an error", err)
	}
}

// The transport reads a body of its own, whole, whatever the caller does
// with the body it passed once Do has returned.
func TestOwnBodyOutlivesTheCallersClose(t *testing.T) {
	late := lateReader{read: make(chan string, 1)}
	body := &closeOnRead{r: strings.NewReader("Action=DescribeAutoScalingGroups&Version=2011-01-01")}
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(req.Context())
	req = req.WithContext(ctx)
	resp, err := ownBody{next: late}.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	body.Close() // what smithy-go does as soon as Do returns
	cancel()
	if got := <-late.read; got != "Action=DescribeAutoScalingGroups&Version=2011-01-01" {
		t.Errorf("the transport read %q after the caller closed its body", got)
	}
}
