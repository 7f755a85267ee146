// Package picture draws the estate's night: one SVG with a lane per
// environment and a row per sync, each run from its start to its worst-case
// end (operation by operation, as `envsync vet` computes them), a link from
// the upstream backup each restore reads to that restore, ordering hazards
// marked, suspended and disabled jobs greyed, and how old each restore's
// data is when it lands. It is pure: the estate in, bytes out; the
// arithmetic is package timing's.
//
// The horizontal axis is one day, noon to noon, rather than a week: jobs
// run for minutes to hours at night, and on a week's axis (tried: seven
// pixels an hour) a run's operations cannot be told apart and the links
// bunch together. The days a job runs on are written beside its name.
package picture

import (
	"bytes"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"

	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/timing"
)

// Layout, in pixels. Text is monospace so that its width is known here
// without a font: a character of 11px monospace is at most 6.7px wide.
const (
	fontSize  = 11
	charWidth = 6.7
	rowHeight = 18
	barHeight = 10
	laneHead  = 26
	hourWidth = 40
	axisHead  = 44
	pad       = 12
	gap       = 16
	// origin is the hour of day at the axis's left edge.
	origin = 12
)

// colours of the operations; suspended and disabled runs are grey.
var colours = map[string]string{
	"restore": "#4c78a8", "sanitise": "#b279a2", "transform": "#b279a2", "backup": "#54a24b", "publish": "#54a24b",
}

// grey fills suspended and disabled runs.
const grey = "#c8c8c8"

// row is one sync in one environment.
type row struct {
	sync *model.Sync
	job  *model.Job
	y    float64 // top
	// hazard is the class of its ordering hazard: "hazard", "hazard-ack"
	// when the estate accepted it, "" when it has none.
	hazard string
}

// SVG draws e. notice is written as the file's first line, in a comment.
func SVG(e *model.Estate, notice string) []byte {
	flow := timing.NewFlow(e)
	p := &painter{e: e, flow: flow, rows: map[*model.Job]*row{}}
	p.layout()
	p.draw(notice)
	return p.out.Bytes()
}

type painter struct {
	e     *model.Estate
	flow  *timing.Flow
	lanes []lane
	rows  map[*model.Job]*row
	out   bytes.Buffer

	nameChars, daysChars int
	chartX, ageX, width  float64
	height               float64
}

type lane struct {
	env  model.Environment
	y    float64
	rows []*row
}

func (p *painter) layout() {
	p.nameChars, p.daysChars = len("sync"), len("runs")
	for i := range p.e.Syncs {
		s := &p.e.Syncs[i]
		p.nameChars = max(p.nameChars, len(s.Name))
		for k := range s.Jobs {
			p.daysChars = max(p.daysChars, len(days(&s.Jobs[k])))
		}
	}
	p.chartX = pad + float64(p.nameChars+p.daysChars+2)*charWidth + gap
	p.ageX = p.chartX + 24*hourWidth + gap
	p.width = p.ageX + float64(len("age 99d23h59m–99d23h59m  ! acknowledged"))*charWidth + pad

	y := float64(axisHead)
	for _, env := range p.e.Environments {
		l := lane{env: env, y: y}
		y += laneHead
		for _, d := range p.e.JobsIn(env.Name) {
			r := &row{sync: d.Sync, job: d.Job, y: y, hazard: hazardClass(p.flow, d.Sync, d.Job)}
			l.rows = append(l.rows, r)
			p.rows[d.Job] = r
			y += rowHeight
		}
		p.lanes = append(p.lanes, l)
		y += gap / 2
	}
	p.height = y + 3*rowHeight + pad // the legend
}

func (p *painter) printf(format string, args ...any) { fmt.Fprintf(&p.out, format, args...) }

func (p *painter) draw(notice string) {
	p.printf("<!-- %s -->\n", notice)
	p.printf(`<svg xmlns="http://www.w3.org/2000/svg" id="envsync-schedule" width="%s" height="%s" viewBox="0 0 %s %s" font-family="DejaVu Sans Mono, monospace" font-size="%d">`+"\n",
		num(p.width), num(p.height), num(p.width), num(p.height), fontSize)
	p.printf("<title>envsync: when every sync runs, at worst, and how old the data it lands is</title>\n")
	p.printf(`<style>.op-off{fill:` + grey + `}.hazard{stroke:#d62728;stroke-width:2}.hazard-ack{stroke:#ff7f0e;stroke-width:2;stroke-dasharray:3 2}` +
		`.link{fill:none;stroke:#777;stroke-width:1;opacity:.7}.link.hazard{stroke:#d62728;opacity:1}.link.hazard-ack{stroke:#ff7f0e}` +
		`.grid{stroke:#e4e4e4}.midnight{stroke:#999}.lane{font-weight:bold}.marker{fill:#d62728;font-weight:bold}.marker.ack{fill:#c25e00}</style>` + "\n")
	p.printf(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	p.axis()
	for _, l := range p.lanes {
		p.lane(l)
	}
	for _, l := range p.lanes {
		for _, r := range l.rows {
			p.links(r)
		}
	}
	p.legend()
	p.printf("</svg>\n")
}

// axis draws the hours: a line per hour, a label every two.
func (p *painter) axis() {
	top, bottom := float64(axisHead-6), p.height-3*rowHeight-pad
	p.printf(`<g id="axis">`)
	p.printf(`<text x="%s" y="%s">UTC, noon to noon; each run drawn to its worst-case end</text>`, num(pad), num(16))
	p.printf(`<text x="%s" y="%s">sync</text><text x="%s" y="%s">runs</text>`,
		num(pad), num(axisHead-10), num(pad+float64(p.nameChars+2)*charWidth), num(axisHead-10))
	p.printf(`<text x="%s" y="%s">data age</text>`, num(p.ageX), num(axisHead-10))
	for h := 0; h <= 24; h++ {
		x := p.chartX + float64(h*hourWidth)
		class := "grid"
		if (h+origin)%24 == 0 {
			class = "midnight"
		}
		p.printf(`<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s"/>`, class, num(x), num(top), num(x), num(bottom))
		if h%2 == 0 && h < 24 {
			p.printf(`<text id="hour-%02d" x="%s" y="%s">%02d:00</text>`, (h+origin)%24, num(x+2), num(axisHead-10), (h+origin)%24)
		}
	}
	p.printf("</g>\n")
}

func (p *painter) lane(l lane) {
	env := l.env
	head := env.Name
	if env.RestoreFrom != "" {
		head += " (restores from " + env.RestoreFrom + ")"
	}
	if env.Sanitise {
		head += ", sanitised"
	}
	p.printf(`<g id="lane-%s"><text class="lane" x="%s" y="%s">%s</text>`+"\n", id(env.Name), num(pad), num(l.y+laneHead-8), esc(head))
	for _, r := range l.rows {
		p.row(r)
	}
	p.printf("</g>\n")
}

// row draws one sync's runs in one environment, its label and data age.
func (p *painter) row(r *row) {
	s, j := r.sync, r.job
	rid := id(j.Environment) + "-" + id(s.Name)
	text := r.y + rowHeight - 5
	p.printf(`<g id="row-%s">`, rid)
	p.printf(`<text id="label-%s" x="%s" y="%s">%s</text>`, rid, num(pad), num(text), esc(s.Name))
	p.printf(`<text id="days-%s" x="%s" y="%s">%s</text>`, rid, num(pad+float64(p.nameChars+2)*charWidth), num(text), esc(days(j)))

	steps := timing.Steps(p.e, s, j)
	for _, start := range dailyStarts(j) {
		at := start
		for _, st := range steps {
			class := "op-" + st.Name
			fill := colours[st.Name]
			if !j.Runs() {
				class, fill = "op-off", grey
			}
			if st.Name == string(model.Restore) && r.hazard != "" {
				class += " " + r.hazard
			}
			for i, seg := range p.segments(at, st.Duration) {
				p.printf(`<rect id="bar-%s-%s-%s-%d" class="%s" x="%s" y="%s" width="%s" height="%d" fill="%s"><title>%s %s: %s from %s, %s at worst</title></rect>`,
					rid, st.Name, clock(start), i, class, num(seg[0]), num(r.y+(rowHeight-barHeight)/2), num(seg[1]), barHeight, fill,
					esc(s.Name), esc(j.Environment), st.Name, clock(at), timing.Short(st.Duration))
			}
			at = at.Add(st.Duration)
		}
	}
	x := p.ageX
	if a, ok := p.flow.Age(s, j); ok {
		t := fmt.Sprintf("%s–%s", timing.Short(a.Best), timing.Short(a.Worst))
		p.printf(`<text id="age-%s" x="%s" y="%s"><title>data from %s is %s old at best, %s at worst when it lands</title>%s</text>`,
			rid, num(x), num(text), esc(a.From), timing.Short(a.Best), timing.Short(a.Worst), esc(t))
		x += float64(len("99d23h59m–99d23h59m  ")) * charWidth
	}
	switch {
	case r.hazard == "hazard":
		p.printf(`<text id="hazard-%s" class="marker" x="%s" y="%s">! hazard</text>`, rid, num(x), num(text))
	case r.hazard != "":
		p.printf(`<text id="hazard-%s" class="marker ack" x="%s" y="%s"><title>%s</title>! acknowledged</text>`, rid, num(x), num(text), esc(j.AcknowledgedHazard))
	}
	p.printf("</g>\n")
}

// hazardClass is the class of j's ordering hazard: "hazard", or
// "hazard-ack" when the estate accepted it; "" when it has none.
func hazardClass(flow *timing.Flow, s *model.Sync, j *model.Job) string {
	if _, ok := flow.Hazard(s, j); !ok {
		return ""
	}
	if j.AcknowledgedHazard != "" {
		return "hazard-ack"
	}
	return "hazard"
}

// links draws, for each daily start of r's restore, a line from the end of
// the upstream run it reads (the last to start before it) to its start.
func (p *painter) links(r *row) {
	seen := map[string]bool{}
	for _, rd := range p.flow.Reads(r.sync, r.job) {
		key := clock(rd.Restore)
		if rd.Upstream == nil || seen[key] {
			continue
		}
		seen[key] = true
		up, ok := p.rows[rd.Upstream.Job]
		if !ok {
			continue
		}
		class := "link"
		if rd.Hazard {
			class += " " + r.hazard
		}
		x1, y1 := p.x(rd.Upstream.Finish), up.y+rowHeight/2
		x2, y2 := p.x(rd.Restore), r.y+rowHeight/2
		p.printf(`<path id="link-%s-%s-%s" class="%s" d="M%s %s C%s %s %s %s %s %s"/>`+"\n",
			id(r.job.Environment), id(r.sync.Name), key, class,
			num(x1), num(y1), num(x1+12), num(y1), num(x2-12), num(y2), num(x2), num(y2))
	}
}

// legend explains the colours, on one line under the lanes.
func (p *painter) legend() {
	y := p.height - 2*rowHeight - pad
	x := float64(pad)
	p.printf(`<g id="legend">`)
	item := func(swatch, label string) {
		p.printf(swatch, num(x), num(y-barHeight+1))
		x += 18
		p.printf(`<text x="%s" y="%s">%s</text>`, num(x), num(y), esc(label))
		x += float64(len([]rune(label)))*charWidth + gap
	}
	for _, k := range []struct{ class, fill, label string }{
		{"op-restore", colours["restore"], "restore"},
		{"op-sanitise", colours["sanitise"], "sanitise or transform"},
		{"op-backup", colours["backup"], "backup"},
		{"op-off", grey, "suspended or disabled"},
		{"op-restore hazard", colours["restore"], "ordering hazard"},
		{"op-restore hazard-ack", colours["restore"], "acknowledged hazard"},
	} {
		item(`<rect class="`+k.class+`" x="%s" y="%s" width="12" height="10" fill="`+k.fill+`"/>`, k.label)
	}
	item(`<path class="link" d="M%s %s h12"/>`, "upstream backup read by a restore")
	p.printf(`<text x="%s" y="%s">data age: from the production backup the data descends from to the restore's end, at best–at worst</text>`, num(pad), num(y+rowHeight))
	p.printf("</g>\n")
}

// segments are the [x, width] pieces of a run from t for d on the day's
// axis: a run that passes the right edge goes on from the left one.
func (p *painter) segments(t time.Time, d time.Duration) [][2]float64 {
	from := p.x(t) - p.chartX
	w := min(d.Hours()*hourWidth, 24*hourWidth)
	end := float64(24 * hourWidth)
	if from+w <= end {
		return [][2]float64{{p.chartX + from, w}}
	}
	return [][2]float64{{p.chartX + from, end - from}, {p.chartX, from + w - end}}
}

// x is where a time of day falls on the axis.
func (p *painter) x(t time.Time) float64 {
	m := (t.Hour()*60 + t.Minute() - origin*60 + 24*60) % (24 * 60)
	return p.chartX + float64(m)/60*hourWidth
}

// dailyStarts are the distinct times of day j starts at over the week.
func dailyStarts(j *model.Job) []time.Time {
	sched, err := timing.Parse(j.Schedule)
	if err != nil {
		return nil
	}
	var out []time.Time
	for _, t := range timing.Starts(sched, timing.WeekStart, timing.WeekStart.Add(timing.Week)) {
		tod := time.Date(2024, 1, 1, t.Hour(), t.Minute(), 0, 0, time.UTC)
		if !slices.Contains(out, tod) {
			out = append(out, tod)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// days says on which days j runs: "daily", "Mon-Fri", "Sun,Mon-Thu".
func days(j *model.Job) string {
	sched, err := timing.Parse(j.Schedule)
	if err != nil {
		return "?"
	}
	var on [7]bool
	for _, t := range timing.Starts(sched, timing.WeekStart, timing.WeekStart.Add(timing.Week)) {
		on[t.Weekday()] = true
	}
	names := []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	var parts []string
	for d := 0; d < 7; {
		if !on[d] {
			d++
			continue
		}
		e := d
		for e+1 < 7 && on[e+1] {
			e++
		}
		switch {
		case e == d:
			parts = append(parts, names[d])
		case e == d+1:
			parts = append(parts, names[d], names[e])
		default:
			parts = append(parts, names[d]+"-"+names[e])
		}
		d = e + 1
	}
	if len(parts) == 1 && parts[0] == "Sun-Sat" {
		return "daily"
	}
	if j.Ensure == model.Disabled {
		return strings.Join(parts, ",") + " (disabled)"
	}
	if j.Suspend {
		return strings.Join(parts, ",") + " (suspended)"
	}
	return strings.Join(parts, ",")
}

func clock(t time.Time) string { return t.Format("1504") }

// num prints a coordinate with at most one decimal, the same way every time.
func num(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	return strings.TrimSuffix(s, ".0")
}

// id makes a name safe inside an element id.
func id(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func esc(s string) string { return html.EscapeString(s) }

// HTML is a page that shows svg with a legend, for a browser.
func HTML(svg []byte, notice string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<!-- %s -->\n", notice)
	b.WriteString(`<html lang="en"><head><meta charset="utf-8"><title>envsync schedule</title>
<style>body{font-family:sans-serif;margin:16px;color:#222}dt{font-weight:bold}dd{margin:0 0 6px 16px}</style></head>
<body>
<h1>When every sync runs</h1>
<dl id="legend">
<dt>Bars</dt><dd>one per run, from its start to its worst-case end, operation by operation (the tiers' "taking a long time" thresholds, the environments' transform limits): restore blue, sanitise or transform purple, backup green; grey when suspended or disabled. A run that passes noon goes on at the left edge.</dd>
<dt>Lines</dt><dd>from the end of the upstream backup a restore reads (the one that starts last before it) to that restore. Red: an ordering hazard, the restore may start before that backup has finished and then restores an older dump. Orange and dashed: a hazard the estate accepted (acknowledgeHazard).</dd>
<dt>Data age</dt><dd>how old the data is when the restore lands it: from the start of the production backup it descends from to the end of the restore and its sanitising, at best (every run quick) and at worst (every run at its worst case, reading only what has finished).</dd>
</dl>
`)
	svgStart := bytes.Index(svg, []byte("<svg"))
	b.Write(svg[max(svgStart, 0):])
	b.WriteString("</body></html>\n")
	return b.Bytes()
}
