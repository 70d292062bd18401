package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `virtual_s,live,full_view,suspicions,deaths,packets,bytes
0.1,3,3,0,0,6,900
0.2,2,2,1,0,4,600
0.3,2,2,0,2,4,700
`

func TestReadTimeline(t *testing.T) {
	tl, err := readTimeline(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.fullView) != 3 || tl.deaths[2].Y != 2 || tl.suspicions[1].Y != 1 || tl.kbytes[0].Y != 0.9 {
		t.Fatalf("columns read wrong: %+v", tl)
	}
	if _, err := readTimeline(strings.NewReader("a,b\n1,2\n")); err == nil {
		t.Fatal("a CSV that is not a timeline is refused")
	}
}

func TestDrawsSVGAndPNG(t *testing.T) {
	tl, err := readTimeline(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var svg, png bytes.Buffer
	if err := draw2(tl, "test", "x.svg", &svg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(svg.String(), "<svg") || !strings.Contains(svg.String(), "members holding the full view") {
		t.Fatalf("not an SVG with the legend: %.200s", svg.String())
	}
	if err := draw2(tl, "test", "x.png", &png); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")) {
		t.Fatal("not a PNG")
	}
}
