package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// decoderMembers is what Members must agree with: a json.Decoder walked
// with Token and Decode into json.RawMessage.
func decoderMembers(text []byte) ([]Member, error) {
	// A top-level number may not fit Token's float64: look first.
	if t := bytes.TrimLeft(text, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, ErrNotObject
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, ErrNotObject
	}
	out := []Member{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		end := int(dec.InputOffset())
		out = append(out, Member{Key: kt.(string), Start: end - len(v), End: end})
	}
	return out, nil
}

func decoderElements(text []byte) ([]Span, error) {
	// A top-level number may not fit Token's float64: look first.
	if t := bytes.TrimLeft(text, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return nil, ErrNotArray
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('[') {
		return nil, ErrNotArray
	}
	out := []Span{}
	for dec.More() {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		end := int(dec.InputOffset())
		out = append(out, Span{end - len(v), end})
	}
	return out, nil
}

var samples = []string{
	`{}`, ` { } `, `{"a":1}`, "\t{\"jsonrpc\":\"2.0\" ,\n \"id\" : 9007199254740993, \"method\":\"tools/call\",\"params\":{\"name\":\"x\",\"arguments\":{\"a\":[1,{\"b\":\"}]\\\"\"}]}}}\r\n",
	`{"a":"\"}","b":[],"c":{},"d":null,"e":true,"f":false,"g":-1.5e+3,"h":"\\"}`,
	`{"\u0069d":1,"id":2}`, `{"i\"d":1}`, `{"商品":"标题","k\ud83d\ude00":0}`, "{\"\xff\":1}", `{"a":{"a":{"a":[[[]]]}}}`,
	`[]`, ` [1, "2", {"3":[4]}, [5], null ] `, `"s"`, `12`, `null`,
	`{"a":1,}`, `{"a" 1}`, `{`, ``, `  `, `{"a":1}{}`, `{"a":01}`, `{a:1}`, `[1,]`,
}

func TestMembersAgreeWithDecoder(t *testing.T) {
	for _, s := range samples {
		checkMembers(t, []byte(s))
		checkElements(t, []byte(s))
	}
}

func TestMembers(t *testing.T) {
	text := []byte(` {"id" : 7, "method":"m", "\u0069d":"x"}`)
	got, err := Members(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []Member{{"id", 9, 10}, {"method", 21, 24}, {"id", 36, 39}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %+v, want %+v", got, want)
	}
	if _, err := Members([]byte(`[1]`)); !errors.Is(err, ErrNotObject) {
		t.Fatalf("array: %v, want ErrNotObject", err)
	}
	if _, err := Members([]byte(`{"a":}`)); !errors.Is(err, ErrSyntax) {
		t.Fatalf("malformed: %v, want ErrSyntax", err)
	}
	if _, err := Elements([]byte(`{}`)); !errors.Is(err, ErrNotArray) {
		t.Fatalf("object: %v, want ErrNotArray", err)
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range samples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		checkMembers(t, text)
		checkElements(t, text)
	})
}

// checkMembers: on valid JSON, Members and the decoder agree exactly; on
// anything else Members says ErrSyntax.
func checkMembers(t *testing.T, text []byte) {
	t.Helper()
	got, err := Members(text)
	if !json.Valid(text) {
		if !errors.Is(err, ErrSyntax) {
			t.Fatalf("Members(%q) = %v, %v; want ErrSyntax", text, got, err)
		}
		return
	}
	want, werr := decoderMembers(text)
	if (err == nil) != (werr == nil) || (werr == ErrNotObject) != errors.Is(err, ErrNotObject) {
		t.Fatalf("Members(%q) error %v, decoder %v", text, err, werr)
	}
	if err == nil && !(len(got) == 0 && len(want) == 0) && !reflect.DeepEqual(got, want) {
		t.Fatalf("Members(%q) = %+v, decoder %+v", text, got, want)
	}
}

func checkElements(t *testing.T, text []byte) {
	t.Helper()
	got, err := Elements(text)
	if !json.Valid(text) {
		if !errors.Is(err, ErrSyntax) {
			t.Fatalf("Elements(%q) = %v, %v; want ErrSyntax", text, got, err)
		}
		return
	}
	want, werr := decoderElements(text)
	if (err == nil) != (werr == nil) || (werr == ErrNotArray) != errors.Is(err, ErrNotArray) {
		t.Fatalf("Elements(%q) error %v, decoder %v", text, err, werr)
	}
	if err == nil && !(len(got) == 0 && len(want) == 0) && !reflect.DeepEqual(got, want) {
		t.Fatalf("Elements(%q) = %+v, decoder %+v", text, got, want)
	}
}

func BenchmarkMembers(b *testing.B) {
	text := []byte(`{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"create-web-page-alipay-payment","arguments":{"outTradeNo":"B1-1","totalAmount":19.99,"orderTitle":"压测"}}}`)
	b.Run("jsonobj", func(b *testing.B) {
		for b.Loop() {
			if _, err := Members(text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		for b.Loop() {
			if _, err := decoderMembers(text); err != nil {
				b.Fatal(err)
			}
		}
	})
}
