package localalipay

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// field is one member of a response object, in order. Value is a string, an
// obj or a []obj.
type field struct {
	Key   string
	Value any
}

// obj is an ordered JSON object encoded like Alipay's gateway encodes its
// answers: compact, "/" escaped as "\/", non-ASCII as raw UTF-8, no HTML
// escaping. Alipay signs exactly these bytes.
type obj []field

func (o obj) add(k string, v any) obj { return append(o, field{k, v}) }

// addIf adds a string member only when it is not empty.
func (o obj) addIf(k, v string) obj {
	if v == "" {
		return o
	}
	return append(o, field{k, v})
}

func (o obj) String() string {
	var b strings.Builder
	o.write(&b)
	return b.String()
}

func (o obj) write(b *strings.Builder) {
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, f.Key)
		b.WriteByte(':')
		switch v := f.Value.(type) {
		case string:
			writeJSONString(b, v)
		case obj:
			v.write(b)
		case []obj:
			b.WriteByte('[')
			for j, e := range v {
				if j > 0 {
					b.WriteByte(',')
				}
				e.write(b)
			}
			b.WriteByte(']')
		default:
			writeJSONString(b, "")
		}
	}
	b.WriteByte('}')
}

// writeJSONString writes s as a JSON string in Alipay's style. Invalid UTF-8
// becomes U+FFFD.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '/':
			b.WriteString(`\/`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			b.WriteString(`\u00`)
			if r < 0x10 {
				b.WriteByte('0')
			}
			b.WriteString(strconv.FormatInt(int64(r), 16))
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
