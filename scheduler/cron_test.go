package scheduler

import (
	"strings"
	"testing"
	"time"
)

var cronScenarios = []struct {
	spec string
	ok   bool
	// from → next (UTC unless the spec names a zone), checked when set
	from, next string
}{
	{"30 2 * * *", true, "2026-03-01T00:00:00Z", "2026-03-01T02:30:00Z"},
	{"*/10 * * * * *", true, "2026-03-01T00:00:01Z", "2026-03-01T00:00:10Z"},
	{"0 0 12 * * mon-fri", true, "2026-03-07T13:00:00Z", "2026-03-09T12:00:00Z"}, // Sat → Mon
	{"0 9 1,15 jan *", true, "2026-01-02T00:00:00Z", "2026-01-15T09:00:00Z"},
	{"@daily", true, "2026-03-01T10:00:00Z", "2026-03-02T00:00:00Z"},
	{"@hourly", true, "2026-03-01T10:20:00Z", "2026-03-01T11:00:00Z"},
	{"@weekly", true, "", ""},
	{"@monthly", true, "", ""},
	{"@yearly", true, "", ""},
	{"@annually", true, "", ""},
	{"@midnight", true, "", ""},
	{"@every 90s", true, "2026-03-01T10:00:00Z", "2026-03-01T10:01:30Z"},
	{"CRON_TZ=Europe/Paris 0 3 * * *", true, "2026-03-01T00:00:00Z", "2026-03-01T02:00:00Z"},
	{"TZ=America/New_York 0 3 * * *", true, "2026-03-01T00:00:00Z", "2026-03-01T08:00:00Z"},
	{"  15 4 * * 0  ", true, "", ""},
	{"0 0 29 2 *", true, "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},

	{"", false, "", ""},
	{"* * * *", false, "", ""},
	{"* * * * * * *", false, "", ""},
	{"60 * * * *", false, "", ""},
	{"* 24 * * *", false, "", ""},
	{"* * 0 * *", false, "", ""},
	{"* * * 13 *", false, "", ""},
	{"* * * * 7", false, "", ""},
	{"*/0 * * * *", false, "", ""},
	{"5-1 * * * *", false, "", ""},
	{"-1 * * * *", false, "", ""},
	{"1-2-3 * * * *", false, "", ""},
	{"1/2/3 * * * *", false, "", ""},
	{"@often", false, "", ""},
	{"@every", false, "", ""},
	{"@every 0s", false, "", ""},
	{"@every 500ms", false, "", ""},
	{"@every -1h", false, "", ""},
	{"@every 1x", false, "", ""},
	{"TZ=UTC", false, "", ""}, // panics in robfig/cron v3.0.1 itself
	{"CRON_TZ=UTC", false, "", ""},
	{"TZ=Nowhere/City * * * * *", false, "", ""},
	{"TZ=UTC TZ=UTC * * * * *", false, "", ""},
	{"TZ=UTC @every 1h", false, "", ""},
	{"TZ=../../etc/passwd * * * * *", false, "", ""},
	{"0 0 30 2 *", false, "", ""}, // never fires
	{"0 0 31 4,6,9,11 *", false, "", ""},
	{"* * * * \x00", false, "", ""},
	{strings.Repeat("1,", 200) + "1 * * * *", false, "", ""},
}

func TestParseSchedule(t *testing.T) {
	for _, sc := range cronScenarios {
		t.Run(sc.spec, func(t *testing.T) {
			sched, err := ParseSchedule(sc.spec, time.UTC)
			if (err == nil) != sc.ok {
				t.Fatalf("ParseSchedule(%q) err = %v, want ok=%v", sc.spec, err, sc.ok)
			}
			if !sc.ok || sc.from == "" {
				return
			}
			from, _ := time.Parse(time.RFC3339, sc.from)
			want, _ := time.Parse(time.RFC3339, sc.next)
			if got := sched.Next(from); !got.Equal(want) {
				t.Fatalf("Next(%s) = %s, want %s", from, got.UTC(), want)
			}
		})
	}
}

func TestParseScheduleDefaultZone(t *testing.T) {
	tokyo, err := LoadZone("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	sched, err := ParseSchedule("0 9 * * *", tokyo)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if got := sched.Next(from); !got.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("09:00 Tokyo after %s: %s", from, got.UTC())
	}
	for _, z := range []string{"", "UTC", "Local", "Europe/Berlin"} {
		if _, err := LoadZone(z); err != nil {
			t.Errorf("LoadZone(%q): %v", z, err)
		}
	}
}

// FuzzCronSpec: the parser never panics, and an accepted schedule fires,
// in the future, deterministically.
func FuzzCronSpec(f *testing.F) {
	for _, sc := range cronScenarios {
		f.Add(sc.spec)
	}
	for _, s := range []string{"TZ=", "TZ= ", "CRON_TZ=Local * * * * *", "@every 1h1h", "* * * * * ?", "0 0 L * *", "mon-fri * * * *", "*/7,3-9/2 1 * * sun"} {
		f.Add(s)
	}
	from := time.Date(2026, 6, 15, 12, 34, 56, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		sched, err := ParseSchedule(spec, time.UTC)
		if err != nil {
			if sched != nil {
				t.Fatalf("%q: schedule and error", spec)
			}
			return
		}
		next := sched.Next(from)
		if next.IsZero() || !next.After(from) {
			t.Fatalf("%q: Next(%s) = %s", spec, from, next)
		}
		again, err := ParseSchedule(spec, time.UTC)
		if err != nil || !again.Next(from).Equal(next) {
			t.Fatalf("%q: not deterministic: %v", spec, err)
		}
	})
}
