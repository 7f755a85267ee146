package picture_test

import (
	"bytes"
	"encoding/json"
	"html"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/check"
	"github.com/envsync/envsync/declare/declaretest"
	"github.com/envsync/envsync/gen/picture"
	"github.com/envsync/envsync/model"
	"github.com/envsync/envsync/testenv"
	"github.com/envsync/envsync/timing"
)

// measure runs in the page once it has loaded: every text's box on the
// screen, the pairs that overlap, every id, and the bars that have a size.
const measure = `<script>
window.addEventListener('load', () => {
  const svg = document.querySelector('svg').getBoundingClientRect();
  const texts = [...document.querySelectorAll('svg text')].map(el => {
    const r = el.getBoundingClientRect();
    return {id: el.id || el.textContent.slice(0, 40), l: r.left, t: r.top, r: r.right, b: r.bottom};
  }).sort((a, b) => a.t - b.t);
  const overlaps = [];
  for (let i = 0; i < texts.length; i++) {
    for (let k = i + 1; k < texts.length && texts[k].t < texts[i].b - 0.5; k++) {
      const a = texts[i], b = texts[k];
      if (a.l < b.r - 0.5 && b.l < a.r - 0.5) overlaps.push(a.id + ' / ' + b.id);
    }
  }
  const outside = texts.filter(t => t.l < svg.left || t.r > svg.right || t.b > svg.bottom).map(t => t.id);
  const ids = [...document.querySelectorAll('svg [id]')].map(e => e.id);
  const bars = [...document.querySelectorAll('svg rect[id^="bar-"]')]
    .filter(r => { const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).map(r => r.id);
  const pre = document.createElement('pre');
  pre.id = 'result';
  pre.textContent = JSON.stringify({texts: texts.length, overlaps, outside, ids, bars});
  document.body.appendChild(pre);
});
</script>`

type seen struct {
	Texts    int
	Overlaps []string
	Outside  []string
	IDs      []string
	Bars     []string
}

func example(t *testing.T) *model.Estate {
	t.Helper()
	e := declaretest.Example(t)
	if err := check.Estate(e).Err(); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestThePictureAsAPersonSeesIt renders the page in headless Chromium, for
// the example estate and for one of 200 syncs, and checks what is on the
// screen: every sync and environment has its bars, every hazard its
// marker, no text overlaps another or leaves the picture, and the PNG shows
// the hazards' red.
func TestThePictureAsAPersonSeesIt(t *testing.T) {
	browser := testenv.StartChromium(t)
	for _, c := range []struct {
		name   string
		estate *model.Estate
	}{
		{"the example estate", example(t)},
		{"200 syncs", big(200)},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := c.estate
			svg := picture.SVG(e, notice)
			page := picture.HTML(svg, notice)
			dir := t.TempDir()
			path := filepath.Join(dir, "schedule.html")
			withScript := bytes.Replace(page, []byte("</body>"), []byte(measure+"</body>"), 1)
			if err := os.WriteFile(path, withScript, 0o644); err != nil {
				t.Fatal(err)
			}
			dom := browser.DOM(t, path)
			_, after, ok := strings.Cut(dom, `<pre id="result">`)
			result, _, ok2 := strings.Cut(after, "</pre>")
			if !ok || !ok2 {
				t.Fatalf("the page's script left no result:\n%.2000s", dom)
			}
			var got seen
			if err := json.Unmarshal([]byte(html.UnescapeString(result)), &got); err != nil {
				t.Fatalf("%v: %s", err, result)
			}
			if got.Texts == 0 {
				t.Fatal("no text on the screen")
			}
			if len(got.Overlaps) > 0 {
				t.Errorf("%d labels overlap, first %q", len(got.Overlaps), got.Overlaps[:min(5, len(got.Overlaps))])
			}
			if len(got.Outside) > 0 {
				t.Errorf("labels outside the picture: %q", got.Outside[:min(5, len(got.Outside))])
			}
			flow := timing.NewFlow(e)
			var hazards []string
			for i := range e.Syncs {
				s := &e.Syncs[i]
				for k := range s.Jobs {
					j := &s.Jobs[k]
					if j.Ensure == model.Absent {
						continue
					}
					rid := rowID(j.Environment, s.Name)
					if !slices.Contains(got.IDs, "label-"+rid) {
						t.Errorf("%s: no label on the screen", rid)
					}
					if !slices.ContainsFunc(got.Bars, func(b string) bool { return strings.HasPrefix(b, "bar-"+rid+"-") }) {
						t.Errorf("%s: no bar on the screen", rid)
					}
					if _, ok := flow.Hazard(s, j); ok {
						hazards = append(hazards, "hazard-"+rid)
					}
				}
			}
			var marked []string
			for _, id := range got.IDs {
				if strings.HasPrefix(id, "hazard-") {
					marked = append(marked, id)
				}
			}
			slices.Sort(hazards)
			slices.Sort(marked)
			if !slices.Equal(hazards, marked) {
				t.Errorf("hazard markers on the screen %q, want %q", marked, hazards)
			}
			if c.name == "the example estate" {
				if len(hazards) == 0 {
					t.Fatal("the example estate has no hazard: the PNG check proves nothing")
				}
				shot := filepath.Join(dir, "schedule.png")
				browser.Screenshot(t, filepath.Join(dir, "schedule.html"), shot, 1700, 2400)
				if n := countColour(t, shot, 0xd6, 0x27, 0x28); n < 50 {
					t.Errorf("the screenshot has %d pixels of the hazards' red, want the markers and outlines", n)
				}
			}
		})
	}
}

// countColour counts the pixels of the PNG at path within a few levels of
// the colour r, g, b.
func countColour(t *testing.T, path string, r, g, b uint8) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	near := func(a uint32, want uint8) bool { d := int(a>>8) - int(want); return d > -12 && d < 12 }
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
