package display

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from outside — the model's orderTitle and refundReason, the order
// subject and every field of a gateway answer (sub_msg above all) — goes
// into result texts that the model is told to show the buyer as is. It
// must not change what the buyer sees: no line of its own, no link, image
// or HTML, no invisible characters.
//
// Text does that in two steps:
//
//  1. Line: every line break (CR, LF, U+0085, U+2028, U+2029), other
//     control, bidi control and zero-width character becomes a space,
//     spaces collapse, and the text is capped. Nothing outside can start a
//     line, so it cannot draw a fake "- 金额 / amount: ¥0.01" line.
//  2. MarkupFree: the characters that make Markdown links, images, HTML
//     and (GFM) autolinks are replaced by look-alikes that no renderer
//     treats as markup: [ ] < > ` @ become their full-width forms
//     ［ ］ ＜ ＞ ˋ ＠, the colon of "://" becomes "：" and the dot of "www."
//     becomes "․" (U+2024). The model's own texts (Title: the order
//     title, the refund reason, the order subject) also get "․" for every
//     dot before a letter, which breaks the bare-domain links some
//     renderers make ("linkify"); codes such as ACQ.TRADE_NOT_EXIST keep
//     their dots elsewhere, so they can be looked up.
//
// Replacing by look-alikes (rather than backslash-escaping, or stripping)
// was chosen because: escapes are renderer-specific (GFM autolinks ignore
// them, plain-text clients show the backslashes) and the model drops them
// when it quotes the text again, which brings the link back; stripping
// loses what the merchant wrote. A look-alike reads the same to the buyer,
// survives re-quoting, and is inert in every renderer. It is display only:
// the signed link and Alipay get the text as given.
func Text(s string, max int) string {
	return MarkupFree(Line(s, max), false)
}

// Title is Text for the model's free text, which may not look
// like a domain either (see Text).
func Title(s string, max int) string {
	return MarkupFree(Line(s, max), true)
}

// Plain is Title for a message that renders emphasis too (a group bot's
// text: Feishu and Lark turn **x** and ~~x~~ into bold and strike-through):
// "*" and "~" also become their full-width forms "＊" and "～".
func Plain(s string, max int) string {
	return strings.NewReplacer("*", "＊", "~", "～").Replace(Title(s, max))
}

// Err is an error's text made safe for a result: error texts quote
// gateway bodies and answer fields.
func Err(err error) string {
	if err == nil {
		return ""
	}
	return Text(err.Error(), 600)
}

// MarkupFree replaces Markdown and HTML metacharacters by look-alikes (see
// displayText). Every replacement is one rune for one rune.
func MarkupFree(s string, domains bool) string {
	if !strings.ContainsAny(s, "[]<>`@:.") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '[':
			b.WriteRune('［')
		case r == ']':
			b.WriteRune('］')
		case r == '<':
			b.WriteRune('＜')
		case r == '>':
			b.WriteRune('＞')
		case r == '`':
			b.WriteRune('ˋ')
		case r == '@':
			b.WriteRune('＠')
		case r == ':' && strings.HasPrefix(s[i+1:], "//"):
			b.WriteRune('：')
		case r == '.' && domains && i+1 < len(s) && isASCIILetter(s[i+1]):
			b.WriteRune('․')
		case r == '.' && i >= 3 && strings.EqualFold(s[i-3:i], "www") && (i == 3 || !isWordByte(s[i-4])):
			b.WriteRune('․')
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isWordByte(c byte) bool { return isASCIILetter(c) || c >= '0' && c <= '9' || c == '_' || c == '-' }

// Line makes s safe to show as one line: control and
// format characters (line breaks, tabs, U+2028/U+2029, bidirectional
// overrides, zero-width characters) become spaces, runs of spaces become
// one, and the result is cut to max runes with "…".
func Line(s string, max int) string {
	var b strings.Builder
	space := false
	n := 0
	for _, c := range s {
		if c == utf8.RuneError || unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || unicode.In(c, unicode.Zl, unicode.Zp) || unicode.IsSpace(c) {
			space = b.Len() > 0
			continue
		}
		if n == max {
			b.WriteString("…")
			return b.String()
		}
		if space {
			if n+1 == max {
				b.WriteString("…")
				return b.String()
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(c)
		n++
	}
	return b.String()
}
