// Package jsonfile decodes the JSON files Ferry keeps in its state dir and
// reads back after a restart (journals, records, the watch state), with
// errors that say where a file went wrong: its path and, for a syntax or
// type error, the line and column.
package jsonfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Error is a file that did not decode.
type Error struct {
	Path string
	// Line and Column (from 1) locate the error in the file; zero when
	// the decoder did not say.
	Line, Column int
	Err          error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %v", e.Path, e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Unmarshal decodes data, the content of the file at path, into v. An
// empty file (a write cut short by a crash, on a file system that kept
// the name but not the data) is an error like any other.
func Unmarshal(path string, data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	e := &Error{Path: path, Err: err}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		e.Err = errors.New("empty file")
	case errors.As(err, &syntax):
		// Offset counts the bytes read, the bad one included; at the
		// end of the input there is none.
		off := syntax.Offset
		if off > 0 && syntax.Error() != "unexpected end of JSON input" {
			off--
		}
		e.Line, e.Column = position(data, off)
	case errors.As(err, &typ):
		e.Line, e.Column = position(data, typ.Offset)
	}
	return e
}

// position turns a byte offset into a line and a column (in bytes, from 1).
func position(data []byte, offset int64) (line, col int) {
	if offset < 0 {
		return 0, 0
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}
