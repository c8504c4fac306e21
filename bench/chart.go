package bench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WriteLatencyCharts draws p50 (dashed) and p99 (solid) latency against
// offered load, one colour per target, on a log latency axis, and saves it
// as base+".png" and base+".svg". It returns the two paths, or none when no
// target has points.
func WriteLatencyCharts(results []CapacityResult, title, base string) ([]string, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "offered load (requests/s)"
	p.Y.Label.Text = "latency (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, res := range results {
		if len(res.Points) == 0 {
			continue
		}
		for _, q := range []struct {
			name   string
			value  func(CapacityPoint) float64
			dashed bool
		}{
			{"p50", func(c CapacityPoint) float64 { return c.P50.Seconds() * 1000 }, true},
			{"p99", func(c CapacityPoint) float64 { return c.P99.Seconds() * 1000 }, false},
		} {
			xys := make(plotter.XYs, 0, len(res.Points))
			for _, pt := range res.Points {
				// A log axis cannot show zero; 1 µs is below any real latency.
				xys = append(xys, plotter.XY{X: pt.Offered, Y: math.Max(q.value(pt), 0.001)})
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, fmt.Errorf("bench: chart: %w", err)
			}
			line.Color = plotutil.Color(i)
			points.Color = plotutil.Color(i)
			points.Radius = vg.Points(1.5)
			line.Width = vg.Points(1.5)
			if q.dashed {
				line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			p.Add(line, points)
			p.Legend.Add(res.Target+" "+q.name, line)
		}
		drawn++
	}
	if drawn == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, ext := range []string{".png", ".svg"} {
		if err := p.Save(9*vg.Inch, 5.5*vg.Inch, base+ext); err != nil {
			return nil, fmt.Errorf("bench: save chart: %w", err)
		}
		files = append(files, base+ext)
	}
	return files, nil
}
