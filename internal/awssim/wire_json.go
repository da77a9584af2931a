package awssim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// jsonHandlerFunc answers one action of an awsJson service: body is the
// request's JSON document, the result is marshalled as the response's. It
// runs with s.mu held.
type jsonHandlerFunc func(s *Sim, body []byte) (any, *APIError)

// writeJSONResult frames v as an awsJson 1.1 response.
func writeJSONResult(w http.ResponseWriter, reqID string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, reqID, &APIError{Code: "InternalServerError", Message: err.Error(), Status: http.StatusInternalServerError})
		return
	}
	writeJSON(w, reqID, http.StatusOK, b)
}

// writeJSONError frames e as awsJson does: the code in X-Amzn-ErrorType and
// in the body's __type, beside the message.
func writeJSONError(w http.ResponseWriter, reqID string, e *APIError) {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message,omitempty"`
	}{e.Code, e.Message})
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	writeJSON(w, reqID, e.Status, b)
}

func writeJSON(w http.ResponseWriter, reqID string, status int, b []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeJSON reads a request document into v; a body that is not one is
// awsJson's SerializationException.
func decodeJSON(body []byte, v any) *APIError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errf("SerializationException", "%s", err.Error())
	}
	return nil
}

// epochTime is a timestamp as awsJson writes it: seconds since the epoch,
// with the milliseconds as a fraction.
type epochTime time.Time

func (t epochTime) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}
