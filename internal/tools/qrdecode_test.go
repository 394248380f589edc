package tools

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// scanQR reads the result's one image with ZXing's QR decoder (a decoder we
// did not write) and checks what a phone scanning a screen needs: a PNG at
// least 256 px wide, error correction M or better, and a white quiet zone.
// It returns the decoded text.
func scanQR(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	var imgs []*mcp.ImageContent
	for _, c := range res.Content {
		if ic, ok := c.(*mcp.ImageContent); ok {
			imgs = append(imgs, ic)
		}
	}
	if len(imgs) != 1 || imgs[0].MIMEType != "image/png" {
		t.Fatalf("want one image/png in the result, got %d: %+v", len(imgs), imgs)
	}
	img, err := png.Decode(bytes.NewReader(imgs[0].Data))
	if err != nil {
		t.Fatalf("the image is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 256 || b.Dy() != b.Dx() {
		t.Errorf("image is %dx%d, want square and at least 256 px", b.Dx(), b.Dy())
	}
	// The module size, from the top-left finder pattern: its top edge is
	// a run of 7 dark modules, starting where the diagonal first meets
	// dark. The whole band of 4 modules around the code must be white.
	dark := func(x, y int) bool { r, _, _, _ := img.At(x, y).RGBA(); return r < 0x8000 }
	first := -1
	for i := b.Min.X; i < b.Max.X && i < b.Max.Y; i++ {
		if dark(i, i) {
			first = i
			break
		}
	}
	run := 0
	for x := first; first >= 0 && x < b.Max.X && dark(x, first); x++ {
		run++
	}
	if first < 0 || run%7 != 0 {
		t.Fatalf("no finder pattern at the top left (first dark pixel %d, run %d)", first, run)
	}
	band := 4 * run / 7
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			inBand := x < b.Min.X+band || y < b.Min.Y+band || x >= b.Max.X-band || y >= b.Max.Y-band
			if r, g, bl, _ := img.At(x, y).RGBA(); inBand && (r != 0xffff || g != 0xffff || bl != 0xffff) {
				t.Fatalf("pixel (%d,%d) of the 4-module quiet zone (module %d px) is not white", x, y, run/7)
			}
		}
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	r, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: false})
	if err != nil {
		t.Fatalf("ZXing cannot decode the QR image: %v", err)
	}
	switch ec := r.GetResultMetadata()[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL]; ec {
	case "M", "Q", "H":
	default:
		t.Errorf("error correction level %v, want M or better", ec)
	}
	return r.GetText()
}
