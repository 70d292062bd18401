// Command plot draws a timeline written by examples/simulate -timeline as an SVG (or PNG,
// by the output's extension): above, the members holding the full view, the deaths declared
// so far (counted per observer) and the suspicions raised in each 100 ms tick; below, the
// kilobytes sent in each tick. A join shows as an S-curve of the full view, a crash as the
// S-curve of its death spreading, loss as spikes of suspicions:
//
//	go run ./examples/simulate -n 1000 -config local -scenario fail -timeline fail.csv
//	cd examples/plot && go run . -in ../../fail.csv -out ../../fail.svg
//
// It is a module of its own so that swim does not depend on gonum.org/v1/plot.
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

func main() {
	in := flag.String("in", "", "timeline CSV from examples/simulate -timeline")
	out := flag.String("out", "timeline.svg", "picture to write: .svg or .png")
	title := flag.String("title", "", "title above the picture (default: the input's name)")
	flag.Parse()
	if *in == "" {
		fmt.Fprintln(os.Stderr, "plot: -in is required")
		os.Exit(2)
	}
	f, err := os.Open(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
	defer f.Close()
	tl, err := readTimeline(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
	if *title == "" {
		*title = *in
	}
	o, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
	if err := draw2(tl, *title, *out, o); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
	if err := o.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

// timeline is the CSV's columns.
type timeline struct {
	fullView, deaths, suspicions, kbytes plotter.XYs
}

// readTimeline reads the CSV; deaths become a running total, bytes kilobytes.
func readTimeline(r io.Reader) (timeline, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return timeline{}, err
	}
	if len(rows) < 2 || len(rows[0]) != 7 || rows[0][0] != "virtual_s" {
		return timeline{}, fmt.Errorf("not a timeline from examples/simulate -timeline")
	}
	var t timeline
	total := 0.0
	for _, row := range rows[1:] {
		v := make([]float64, len(row))
		for i, s := range row {
			if v[i], err = strconv.ParseFloat(s, 64); err != nil {
				return timeline{}, fmt.Errorf("row %v: %v", row, err)
			}
		}
		total += v[4]
		t.fullView = append(t.fullView, plotter.XY{X: v[0], Y: v[2]})
		t.deaths = append(t.deaths, plotter.XY{X: v[0], Y: total})
		t.suspicions = append(t.suspicions, plotter.XY{X: v[0], Y: v[3]})
		t.kbytes = append(t.kbytes, plotter.XY{X: v[0], Y: v[6] / 1000})
	}
	return t, nil
}

// draw2 draws the two panels, one above the other, in the format the name asks for.
func draw2(t timeline, title, name string, w io.Writer) error {
	top := plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "members / observations"
	top.Legend.Left = true // the full view runs along the top, deaths rise at the right
	top.Legend.YOffs = vg.Inch
	for i, l := range []struct {
		name string
		xys  plotter.XYs
	}{{"members holding the full view", t.fullView}, {"deaths declared (per observer, total)", t.deaths}, {"suspicions raised (per 100 ms)", t.suspicions}} {
		line, err := plotter.NewLine(l.xys)
		if err != nil {
			return err
		}
		line.Color = plotColors[i%len(plotColors)]
		top.Add(line)
		top.Legend.Add(l.name, line)
	}
	bottom := plot.New()
	bottom.X.Label.Text = "virtual seconds"
	bottom.Y.Label.Text = "kB sent per 100 ms"
	line, err := plotter.NewLine(t.kbytes)
	if err != nil {
		return err
	}
	bottom.Add(line)

	width, height := 8*vg.Inch, 7*vg.Inch
	var c draw.Canvas
	var wt io.WriterTo
	switch {
	case len(name) > 4 && name[len(name)-4:] == ".png":
		img := vgimg.New(width, height)
		c, wt = draw.New(img), vgimg.PngCanvas{Canvas: img}
	default:
		svg := vgsvg.New(width, height)
		c, wt = draw.New(svg), svg
	}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	plots := [][]*plot.Plot{{top}, {bottom}}
	canvases := plot.Align(plots, tiles, c)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	_, err = wt.WriteTo(w)
	return err
}
