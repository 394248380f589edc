package tools

import (
	"bytes"
	"image"
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
	quiet := b.Dx() / 40 // at least a module's worth of margin is white
	for _, p := range []image.Point{{quiet, quiet}, {b.Dx() - 1 - quiet, quiet}, {quiet, b.Dy() - 1 - quiet}, {b.Dx() / 2, quiet}, {quiet, b.Dy() / 2}} {
		if r, g, bl, _ := img.At(p.X, p.Y).RGBA(); r != 0xffff || g != 0xffff || bl != 0xffff {
			t.Errorf("pixel %v of the margin is not white: no quiet zone", p)
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
