package awssim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// node is one XML element of a response. Responses are built as trees of
// nodes rather than tagged structs so that the same resource can be rendered
// in the two dialects (awsQuery's <member> lists, ec2Query's <item> lists).
type node struct {
	name string
	text string
	kids []*node
	leaf bool
}

// el builds an element with children; nil children are skipped, so optional
// fields can be written inline.
func el(name string, kids ...*node) *node {
	n := &node{name: name}
	for _, k := range kids {
		if k != nil {
			n.kids = append(n.kids, k)
		}
	}
	return n
}

// leaf builds a text element from a string, number, bool or time.
func leaf(name string, v any) *node {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case bool:
		s = strconv.FormatBool(x)
	case time.Time:
		s = x.UTC().Format("2006-01-02T15:04:05.000Z")
	default:
		s = fmt.Sprint(x)
	}
	return &node{name: name, text: s, leaf: true}
}

// opt is leaf for a string that is omitted when empty.
func opt(name, v string) *node {
	if v == "" {
		return nil
	}
	return leaf(name, v)
}

// list renders items under name, each renamed to item ("member" for
// awsQuery, "item" for ec2Query).
func list(name, item string, items []*node) *node {
	n := &node{name: name}
	for _, it := range items {
		it.name = item
		n.kids = append(n.kids, it)
	}
	return n
}

// members is an awsQuery list.
func members(name string, items []*node) *node { return list(name, "member", items) }

// items is an ec2Query list.
func items(name string, its []*node) *node { return list(name, "item", its) }

// strMembers is an awsQuery list of strings.
func strMembers(name string, vs []string) *node {
	var its []*node
	for _, v := range vs {
		its = append(its, leaf("member", v))
	}
	return members(name, its)
}

func (n *node) write(b *bytes.Buffer) {
	b.WriteByte('<')
	b.WriteString(n.name)
	b.WriteByte('>')
	if n.leaf {
		_ = xml.EscapeText(b, []byte(n.text))
	}
	for _, k := range n.kids {
		k.write(b)
	}
	b.WriteString("</")
	b.WriteString(n.name)
	b.WriteByte('>')
}

// APIError is an error answered to a client in AWS's wire format. Code is the
// AWS error code (e.g. ValidationError), Status the HTTP status.
type APIError struct {
	Code    string
	Message string
	Status  int
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// errf builds a client (HTTP 400, Sender) error.
func errf(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// validation is Auto Scaling's and ELB's ValidationError.
func validation(format string, args ...any) *APIError {
	return errf("ValidationError", format, args...)
}

// dialect is how a service frames responses and errors.
type dialect struct {
	xmlns string
	ec2   bool // ec2Query: no Result wrapper, <item> lists, <Response><Errors> errors
	json  bool // awsJson 1.1 (wire_json.go)
}

// writeResult frames body as the successful response to action.
func (d dialect) writeResult(w http.ResponseWriter, action, reqID string, body []*node) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if d.ec2 {
		fmt.Fprintf(&b, `<%sResponse xmlns="%s"><requestId>%s</requestId>`, action, d.xmlns, reqID)
		for _, n := range body {
			if n != nil {
				n.write(&b)
			}
		}
		fmt.Fprintf(&b, `</%sResponse>`, action)
	} else {
		fmt.Fprintf(&b, `<%sResponse xmlns="%s"><%sResult>`, action, d.xmlns, action)
		for _, n := range body {
			if n != nil {
				n.write(&b)
			}
		}
		fmt.Fprintf(&b, `</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, action, reqID, action)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// writeError frames e in the service's error format.
func (d dialect) writeError(w http.ResponseWriter, reqID string, e *APIError) {
	if d.json {
		writeJSONError(w, reqID, e)
		return
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if d.ec2 {
		b.WriteString("<Response><Errors><Error>")
		leaf("Code", e.Code).write(&b)
		leaf("Message", e.Message).write(&b)
		b.WriteString("</Error></Errors>")
		leaf("RequestID", reqID).write(&b)
		b.WriteString("</Response>")
	} else {
		typ := "Sender"
		if e.Status >= 500 {
			typ = "Receiver"
		}
		fmt.Fprintf(&b, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type>`, d.xmlns, typ)
		leaf("Code", e.Code).write(&b)
		leaf("Message", e.Message).write(&b)
		b.WriteString("</Error>")
		leaf("RequestId", reqID).write(&b)
		b.WriteString("</ErrorResponse>")
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(e.Status)
	_, _ = w.Write(b.Bytes())
}
