package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The plot's panels, top to bottom. A latency row names its panel; rows
// without samples are left out.
const (
	panelWS      = "write → build_complete at a WebSocket client (figures 1, 3)"
	panelBrowser = "write → page updated in Chromium, page clock (figures 2, 6)"
	panelScale   = "scale and hub: write → build_complete (figures 4, 5)"
)

var panels = []string{panelWS, panelBrowser, panelScale}

// minPlotMS keeps log axes away from zero.
const minPlotMS = 0.01

// writePlot draws one CDF per latency row, grouped into panels, as SVG.
func writePlot(w io.Writer, r *report) error {
	var plots [][]*plot.Plot
	for _, name := range panels {
		var rows []*latencyRow
		for _, row := range r.latency {
			if row.panel == name && len(row.samples) > 0 {
				rows = append(rows, row)
			}
		}
		if len(rows) == 0 {
			continue
		}
		p, err := cdfPlot(name, rows)
		if err != nil {
			return err
		}
		plots = append(plots, []*plot.Plot{p})
	}
	if len(plots) == 0 {
		return fmt.Errorf("plot: no latency samples")
	}
	plots[0][0].Title.Text = fmt.Sprintf("reloadd, %s, %d cores: %s",
		r.started.UTC().Format("2006-01-02"), runtime.NumCPU(), plots[0][0].Title.Text)

	// Each panel's legend goes to its right, outside the data, so that it
	// never hides a curve.
	const (
		panelHeight = 3.2 * vg.Inch
		plotWidth   = 7.5 * vg.Inch
		legendWidth = 3.6 * vg.Inch
	)
	c := vgsvg.New(plotWidth+legendWidth, panelHeight*vg.Length(len(plots)))
	dc := draw.New(c)
	tiles := draw.Tiles{
		Rows: len(plots), Cols: 1,
		PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter,
		PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter,
	}
	canvases := plot.Align(plots, tiles, draw.Crop(dc, 0, -legendWidth, 0, 0))
	for i := range plots {
		p, pc := plots[i][0], canvases[i][0]
		legend := p.Legend
		p.Legend = plot.NewLegend()
		p.Draw(pc)
		legend.Top, legend.Left = true, true
		legend.Padding = vg.Points(3)
		legend.Draw(draw.Canvas{Canvas: dc, Rectangle: vg.Rectangle{
			Min: vg.Point{X: pc.Max.X + 2*vg.Millimeter, Y: pc.Min.Y},
			Max: vg.Point{X: pc.Max.X + legendWidth, Y: pc.Max.Y - 8*vg.Millimeter},
		}})
	}
	_, err := c.WriteTo(w)
	return err
}

// cdfPlot is one panel: the empirical CDF of each row's samples on a
// logarithmic millisecond axis.
func cdfPlot(title string, rows []*latencyRow) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "latency, ms (log scale)"
	p.Y.Label.Text = "fraction of trials ≤ x"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Add(plotter.NewGrid())
	lo, hi := math.Inf(1), 0.0
	for i, row := range rows {
		pts := cdfPoints(row.samples)
		lo, hi = min(lo, pts[0].X), max(hi, pts[len(pts)-1].X)
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", row.label, err)
		}
		l.StepStyle = plotter.PostStep
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (n=%d, p50 %s ms)", row.label, len(row.samples), fmtMS(summarize(row.samples).p50)), l)
	}
	// Whole decades, so the log ticks have labels.
	p.X.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.X.Max = math.Pow(10, math.Ceil(math.Log10(hi)))
	if p.X.Max <= p.X.Min {
		p.X.Max = p.X.Min * 10
	}
	return p, nil
}

// cdfPoints turns samples into the corners of a step CDF: (0 at the first
// sample), then (x_i, i/n).
func cdfPoints(ds []time.Duration) plotter.XYs {
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 {
		return max(float64(d)/float64(time.Millisecond), minPlotMS)
	}
	pts := make(plotter.XYs, 0, len(s)+1)
	pts = append(pts, plotter.XY{X: ms(s[0]), Y: 0})
	for i, d := range s {
		pts = append(pts, plotter.XY{X: ms(d), Y: float64(i+1) / float64(len(s))})
	}
	return pts
}
