package jsonfile

import (
	"errors"
	"strings"
	"testing"
)

func TestUnmarshalNamesThePlace(t *testing.T) {
	type doc struct {
		N int `json:"n"`
	}
	for _, tc := range []struct {
		data, want string
	}{
		{"", "state.json: empty file"},
		{"  \n", "state.json: empty file"},
		{"{\n  \"n\": 1,\n  x\n}", "state.json:3:3: invalid character 'x'"},
		{"{\"n\": \"one\"}", "state.json:1:"},
		{"{\"n\": 1}\ngarbage", "state.json:2:1: invalid character 'g' after top-level value"},
		{"{\"n\": 1", "state.json:1:8: unexpected end of JSON input"},
	} {
		var d doc
		err := Unmarshal("state.json", []byte(tc.data), &d)
		var fe *Error
		if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Unmarshal(%q) = %v, want an *Error starting %q", tc.data, err, tc.want)
		}
	}
	var d doc
	if err := Unmarshal("state.json", []byte(`{"n": 2}`), &d); err != nil || d.N != 2 {
		t.Errorf("a valid file: %v, %+v", err, d)
	}
}

// FuzzUnmarshal: whatever the file, the error names it, and a line and
// column given lie within it.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte("{\n\"a\": [1, 2,\n}"))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v map[string]any
		err := Unmarshal("f.json", data, &v)
		if err == nil {
			return
		}
		var fe *Error
		if !errors.As(err, &fe) || fe.Path != "f.json" || !strings.HasPrefix(err.Error(), "f.json:") {
			t.Fatalf("error does not name the file: %v", err)
		}
		if fe.Line > 0 && (fe.Line > strings.Count(string(data), "\n")+1 || fe.Column < 1) {
			t.Fatalf("position %d:%d outside the file of %d bytes", fe.Line, fe.Column, len(data))
		}
	})
}
