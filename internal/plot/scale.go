package plot

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// bigValue bounds the values a chart scales to, so that spans stay finite.
const bigValue = 1e300

// axis is a linear value axis with nice ticks.
type axis struct {
	lo, hi float64 // axis ends (nice)
	step   float64
	ticks  []float64
	div    float64 // values are divided by div for labels (SI prefix)
	prefix string
	dec    int // decimals of labels
}

// niceNum is Heckbert's nice number: 1, 2, 5 times a power of ten close
// to x (rounded, or at least x).
func niceNum(x float64, round bool) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 1
	}
	exp := math.Floor(math.Log10(x))
	p := math.Pow(10, exp)
	f := x / p
	var nf float64
	if round {
		switch {
		case f < 1.5:
			nf = 1
		case f < 3:
			nf = 2
		case f < 7:
			nf = 5
		default:
			nf = 10
		}
	} else {
		switch {
		case f <= 1:
			nf = 1
		case f <= 2:
			nf = 2
		case f <= 5:
			nf = 5
		default:
			nf = 10
		}
	}
	return nf * p
}

// newAxis makes an axis covering [lo, hi] with about n ticks. When fixed,
// the ends stay lo and hi.
func newAxis(lo, hi float64, n int, fixed bool, unit string) axis {
	lo, hi = clampV(lo), clampV(hi)
	if lo > hi {
		lo, hi = hi, lo
	}
	if n < 2 {
		n = 2
	}
	span := hi - lo
	if span <= math.Max(math.Abs(hi), math.Abs(lo))*1e-9 || span < 1e-200 {
		// flat: widen around the value
		d := math.Abs(hi) * 0.1
		if d < 1e-200 {
			d = 1
		}
		if lo >= 0 && lo-d < 0 && !fixed {
			lo, hi = 0, hi+d
		} else {
			lo, hi = lo-d, hi+d
		}
		span = hi - lo
	}
	step := niceNum(span/float64(n-1), true)
	a := axis{step: step, div: 1}
	if fixed {
		a.lo, a.hi = lo, hi
	} else {
		a.lo, a.hi = math.Floor(lo/step)*step, math.Ceil(hi/step)*step
		if a.hi <= a.lo { // precision lost at huge magnitudes
			a.lo, a.hi = lo, hi
		}
	}
	first := math.Ceil(a.lo/step-1e-9) * step
	for i := 0; i < 40; i++ {
		v := first + float64(i)*step
		if v > a.hi+step*1e-9 {
			break
		}
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		if len(a.ticks) > 0 && v <= a.ticks[len(a.ticks)-1] {
			break // step below float precision
		}
		a.ticks = append(a.ticks, v)
	}
	a.prefix, a.div = siPrefix(math.Max(math.Abs(a.lo), math.Abs(a.hi)), unit)
	a.dec = decimals(step / a.div)
	return a
}

func clampV(v float64) float64 { return math.Max(-bigValue, math.Min(bigValue, v)) }

var siPrefixes = []string{"n", "µ", "m", "", "k", "M", "G", "T", "P", "E"}

// siPrefix picks an SI prefix for values up to maxAbs: none for "%" or
// between 0.01 and 10,000.
func siPrefix(maxAbs float64, unit string) (string, float64) {
	if unit == "%" || maxAbs == 0 || (maxAbs >= 1e-2 && maxAbs < 1e4) {
		return "", 1
	}
	k := int(math.Floor(math.Log10(maxAbs) / 3))
	k = max(-3, min(6, k))
	return siPrefixes[k+3], math.Pow(1000, float64(k))
}

// decimals is the number of decimals that shows multiples of step.
func decimals(step float64) int {
	for d := 0; d < 12; d++ {
		x := step * math.Pow(10, float64(d))
		if math.Abs(x-math.Round(x)) < 1e-6*math.Max(1, x) {
			return d
		}
	}
	return 12
}

// tickLabels formats every tick (with format when given, clipped to
// MaxLabel, else with the axis' prefix and unit) and returns the widest
// label's width at fontSize.
func (a axis) tickLabels(format func(float64) string, unit string) ([]string, float64) {
	labels := make([]string, len(a.ticks))
	widest := 0.0
	for i, v := range a.ticks {
		if format != nil {
			labels[i] = clip(format(v), MaxLabel)
		} else {
			labels[i] = a.label(v, unit)
		}
		widest = math.Max(widest, textWidth(labels[i], fontSize))
	}
	return labels, widest
}

// label formats a tick value with the axis' prefix and the unit.
func (a axis) label(v float64, unit string) string {
	return fmtValue(v/a.div, a.dec, a.prefix, unit)
}

func fmtValue(v float64, dec int, prefix, unit string) string {
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Trim(s, "-0.") == "" {
		s = strconv.FormatFloat(0, 'f', dec, 64)
	}
	u := prefix + unit
	switch {
	case u == "":
		return s
	case unit == "%" && prefix == "":
		return s + "%"
	}
	return s + " " + u
}

// FormatValue formats v for a text with unit: three significant digits
// and an SI prefix outside 0.01–10,000 (none for "%"). NaN is "–".
func FormatValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "–"
	}
	if math.IsInf(v, 0) {
		if v > 0 {
			return "∞"
		}
		return "-∞"
	}
	unit = clip(unit, MaxLabel)
	prefix, div := siPrefix(math.Abs(v), unit)
	x := v / div
	dec := 0
	switch ax := math.Abs(x); {
	case ax == 0 || ax >= 100:
		dec = 0
	case ax >= 10:
		dec = 1
	default:
		dec = 2
	}
	s := strconv.FormatFloat(x, 'f', dec, 64)
	if dec > 0 {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	u := prefix + unit
	switch {
	case u == "":
		return s
	case unit == "%" && prefix == "":
		return s + "%"
	}
	return s + " " + u
}

// (y) maps a value to a coordinate between bottom and top.
func (a axis) pos(v, bottom, top float64) float64 {
	if a.hi == a.lo {
		return (bottom + top) / 2
	}
	f := (v - a.lo) / (a.hi - a.lo)
	f = math.Max(0, math.Min(1, f))
	return bottom + f*(top-bottom)
}

// Time ticks.

type tunit int

const (
	tSecond tunit = iota
	tMinute
	tHour
	tDay
	tMonth
	tYear
)

type tstep struct {
	u tunit
	n int
}

func (s tstep) approx() float64 { // seconds
	switch s.u {
	case tSecond:
		return float64(s.n)
	case tMinute:
		return float64(s.n) * 60
	case tHour:
		return float64(s.n) * 3600
	case tDay:
		return float64(s.n) * 86400
	case tMonth:
		return float64(s.n) * 30.44 * 86400
	}
	return float64(s.n) * 365.25 * 86400
}

var tsteps = []tstep{
	{tSecond, 1}, {tSecond, 2}, {tSecond, 5}, {tSecond, 10}, {tSecond, 15}, {tSecond, 30},
	{tMinute, 1}, {tMinute, 2}, {tMinute, 5}, {tMinute, 10}, {tMinute, 15}, {tMinute, 30},
	{tHour, 1}, {tHour, 2}, {tHour, 3}, {tHour, 6}, {tHour, 12},
	{tDay, 1}, {tDay, 2}, {tDay, 7}, {tMonth, 1}, {tMonth, 2}, {tMonth, 3}, {tMonth, 6},
	{tYear, 1}, {tYear, 2}, {tYear, 5}, {tYear, 10}, {tYear, 20}, {tYear, 50}, {tYear, 100},
	{tYear, 200}, {tYear, 500}, {tYear, 1000}, {tYear, 2000}, {tYear, 5000},
}

type tick struct {
	t     time.Time
	label string
}

// secs is t in seconds since the epoch as a float (no overflow for any
// year).
func secs(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }

// timeTicks returns ticks in [from, to] in loc, at most maxTicks of them,
// aligned to the local clock and calendar.
func timeTicks(from, to time.Time, loc *time.Location, maxTicks int) []tick {
	if maxTicks < 2 {
		maxTicks = 2
	}
	span := secs(to) - secs(from)
	if !(span > 0) {
		return nil
	}
	st := tsteps[len(tsteps)-1]
	for _, s := range tsteps {
		if span/s.approx() <= float64(maxTicks-1) {
			st = s
			break
		}
	}
	f := from.In(loc)
	y, mo, d := f.Date()
	var out []tick
	add := func(t time.Time) bool {
		if t.Before(from) {
			return true
		}
		if t.After(to) || len(out) >= maxTicks+1 {
			return false
		}
		if len(out) > 0 && !t.After(out[len(out)-1].t) {
			return true
		}
		out = append(out, tick{t: t})
		return true
	}
	switch st.u {
	case tSecond, tMinute, tHour:
		unit := map[tunit]float64{tSecond: 1, tMinute: 60, tHour: 3600}[st.u]
		stepS := unit * float64(st.n)
		base := time.Date(y, mo, d, 0, 0, 0, 0, loc)
		k0 := int(math.Floor((secs(from)-secs(base))/stepS)) - 2
		k0 = max(0, k0)
		for k, i := k0, 0; i < 1000; k, i = k+1, i+1 {
			var t time.Time
			switch st.u {
			case tSecond:
				t = time.Date(y, mo, d, 0, 0, k*st.n, 0, loc)
			case tMinute:
				t = time.Date(y, mo, d, 0, k*st.n, 0, 0, loc)
			default:
				t = time.Date(y, mo, d, k*st.n, 0, 0, 0, loc)
			}
			if !add(t) {
				break
			}
		}
	case tDay:
		for i := 0; i < 1000; i++ {
			t := time.Date(y, mo, d+i, 0, 0, 0, 0, loc)
			day := t.Day()
			dim := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, loc).Day()
			if st.n > 1 && ((day-1)%st.n != 0 || day > dim-st.n/2) {
				if t.After(to) {
					break
				}
				continue
			}
			if !add(t) {
				break
			}
		}
	case tMonth:
		for i := 0; i < 1000; i++ {
			t := time.Date(y, mo+time.Month(i), 1, 0, 0, 0, 0, loc)
			if (int(t.Month())-1)%st.n != 0 {
				if t.After(to) {
					break
				}
				continue
			}
			if !add(t) {
				break
			}
		}
	default:
		y0 := y - ((y%st.n)+st.n)%st.n
		for i := 0; i < 1000; i++ {
			t := time.Date(y0+i*st.n, 1, 1, 0, 0, 0, 0, loc)
			if !add(t) {
				break
			}
		}
	}
	for i := range out {
		out[i].label = tickLabel(out[i].t.In(loc), st, i == 0)
	}
	return out
}

func tickLabel(t time.Time, st tstep, first bool) string {
	midnight := t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0
	switch st.u {
	case tSecond:
		if first || midnight {
			return t.Format("01-02 15:04:05")
		}
		return t.Format("15:04:05")
	case tMinute, tHour:
		if midnight {
			return t.Format("01-02")
		}
		if first {
			return t.Format("01-02 15:04")
		}
		return t.Format("15:04")
	case tDay:
		if first || (t.Month() == time.January && t.Day() == 1) {
			return t.Format("2006-01-02")
		}
		return t.Format("01-02")
	case tMonth:
		return t.Format("2006-01")
	}
	return strconv.Itoa(t.Year())
}

// zoneName names loc at t for the axis: its abbreviation ("JST", "UTC")
// or offset ("UTC+05:30").
func zoneName(t time.Time, loc *time.Location) string {
	name, off := t.In(loc).Zone()
	if name != "" && (name[0] < '0' || name[0] > '9') && name[0] != '+' && name[0] != '-' {
		return name
	}
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return "UTC" + sign + twoDigits(off/3600) + ":" + twoDigits(off%3600/60)
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
