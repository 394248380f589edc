package main

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"rsc.io/qr"
)

// The terminal QR is the code's modules, dark on light with explicit
// colours, inside the full quiet zone of four modules.
func TestTerminalQR(t *testing.T) {
	c, err := qr.Encode("https://qr.alipay.com/bax00000000000000000", qr.M)
	if err != nil {
		t.Fatal(err)
	}
	c.Scale = 8
	img, err := png.Decode(bytes.NewReader(c.PNG()))
	if err != nil {
		t.Fatal(err)
	}
	lines := terminalQR(img)
	n := c.Size + 8
	if len(lines) != (n+1)/2 {
		t.Fatalf("%d lines, want %d (two module rows each, quiet zone included)", len(lines), (n+1)/2)
	}
	got := func(mx, my int) bool { // module (mx, my) as drawn
		line := []rune(strings.TrimSuffix(strings.TrimPrefix(lines[my/2], qrInk), qrReset))
		if len(line) != n {
			t.Fatalf("line %d has %d cells, want %d, framed by the colour codes: %q", my/2, len(line), n, lines[my/2])
		}
		r := line[mx]
		if my%2 == 0 {
			return r == '█' || r == '▀'
		}
		return r == '█' || r == '▄'
	}
	for my := 0; my < n; my++ {
		for mx := 0; mx < n; mx++ {
			want := mx >= 4 && my >= 4 && mx < n-4 && my < n-4 && c.Black(mx-4, my-4)
			if got(mx, my) != want {
				t.Fatalf("module (%d,%d) drawn dark=%t, want %t (4 modules of light margin, dark modules as ink)", mx, my, got(mx, my), want)
			}
		}
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, qrInk) || !strings.HasSuffix(l, qrReset) {
			t.Fatalf("line without explicit dark-on-light colours: %q", l)
		}
	}
}
