// Package jsonobj finds the members of a JSON object, or the elements of a
// JSON array, without decoding them: each key (unescaped) and where each
// value lies in the text, so that a caller can read one field or splice a
// new value in place and leave every other byte as it was sent.
//
// On valid JSON it gives the answer of a json.Decoder walked with Token and
// Decode into json.RawMessage, without the decoder's buffers and tokens.
// Anything else is ErrSyntax, where such a walk would accept a truncated
// object or text after it.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Errors: the text is not valid JSON, or is valid JSON of another kind.
var (
	ErrSyntax    = errors.New("jsonobj: 不是有效的 JSON / malformed JSON")
	ErrNotObject = errors.New("jsonobj: 不是 JSON 对象 / not a JSON object")
	ErrNotArray  = errors.New("jsonobj: 不是 JSON 数组 / not a JSON array")
)

// Member is one key of an object and its value: text[Start:End], exactly
// as written.
type Member struct {
	Key        string
	Start, End int
}

// Members returns the members of the JSON object in text, in order and
// duplicates included. White space around the object is allowed; anything
// else is ErrSyntax or, for valid JSON that is no object, ErrNotObject.
func Members(text []byte) ([]Member, error) {
	if !json.Valid(text) {
		return nil, ErrSyntax
	}
	i := skipSpace(text, 0)
	if text[i] != '{' {
		return nil, ErrNotObject
	}
	// Valid JSON from here on: every scan below finds what it expects.
	var out []Member
	i = skipSpace(text, i+1)
	if text[i] == '}' {
		return out, nil
	}
	out = make([]Member, 0, 4)
	for {
		keyEnd := skipString(text, i)
		key, err := unquote(text[i:keyEnd])
		if err != nil {
			return nil, err
		}
		i = skipSpace(text, keyEnd)
		i = skipSpace(text, i+1) // past ':'
		end := skipValue(text, i)
		out = append(out, Member{Key: key, Start: i, End: end})
		i = skipSpace(text, end)
		if text[i] == '}' {
			return out, nil
		}
		i = skipSpace(text, i+1) // past ','
	}
}

// Span is where one array element lies: text[Start:End].
type Span struct{ Start, End int }

// Elements returns where the elements of the JSON array in text lie, in
// order; errors as for Members, with ErrNotArray.
func Elements(text []byte) ([]Span, error) {
	if !json.Valid(text) {
		return nil, ErrSyntax
	}
	i := skipSpace(text, 0)
	if text[i] != '[' {
		return nil, ErrNotArray
	}
	var out []Span
	i = skipSpace(text, i+1)
	if text[i] == ']' {
		return out, nil
	}
	for {
		end := skipValue(text, i)
		out = append(out, Span{i, end})
		i = skipSpace(text, end)
		if text[i] == ']' {
			return out, nil
		}
		i = skipSpace(text, i+1)
	}
}

// unquote is the key a quoted JSON string stands for. Plain ASCII or UTF-8
// is taken as it is; escapes and invalid UTF-8 go through encoding/json, so
// that a key reads exactly as a json.Decoder would read it.
func unquote(q []byte) (string, error) {
	s := q[1 : len(q)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s), nil
	}
	var k string
	if err := json.Unmarshal(q, &k); err != nil {
		return "", ErrSyntax
	}
	return k, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string that starts (with its
// quote) at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++ // the escaped byte cannot end the string
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index just past the value that starts at i.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	// A number, true, false or null: up to the next delimiter.
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
