// Package scheduler runs mlbox's cron jobs: retention policies and
// retraining commands, one instance per job at a time, with their history
// in the store. Schedules are parsed by robfig/cron through ParseSchedule.
package scheduler

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones work on hosts without /usr/share/zoneinfo (static binary, distroless)
	"unicode"

	"github.com/robfig/cron/v3"
)

// MaxSpecLen bounds a schedule's length.
const MaxSpecLen = 256

var specParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron spec:
//
//   - 5 fields: minute hour day-of-month month day-of-week ("30 2 * * *");
//   - 6 fields: a leading seconds field ("*/10 * * * * *");
//   - a descriptor: @yearly (@annually), @monthly, @weekly, @daily
//     (@midnight), @hourly, or @every <duration> (at least 1s);
//   - optionally prefixed by "CRON_TZ=<zone> " (or "TZ=<zone> ").
//
// Times are in loc unless the spec names a zone. Fields take numbers,
// ranges (1-5), steps (*/15, 10-50/5), lists (1,15) and month and weekday
// names (jan, mon). When both day fields are restricted, a day matching
// either runs the job (Vixie cron's rule). A schedule that never fires is
// an error.
//
// The wrapper guards the parser: robfig/cron v3.0.1 panics on a zone
// prefix without a schedule after it ("TZ=UTC"), so zones are handled here
// and any panic left in the parser is returned as an error.
func ParseSchedule(spec string, loc *time.Location) (sched cron.Schedule, err error) {
	if loc == nil {
		loc = time.UTC
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	if len(spec) > MaxSpecLen {
		return nil, fmt.Errorf("schedule longer than %d characters", MaxSpecLen)
	}
	for _, r := range spec {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return nil, fmt.Errorf("schedule %q contains a control character", spec)
		}
	}
	zoned := false
	if rest, ok := cutZonePrefix(spec); ok {
		i := strings.IndexFunc(rest, unicode.IsSpace)
		if i < 0 {
			return nil, fmt.Errorf("schedule %q: a time zone prefix must be followed by a schedule", spec)
		}
		name := rest[:i]
		z, err := LoadZone(name)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %v", spec, err)
		}
		loc, zoned = z, true
		spec = strings.TrimSpace(rest[i:])
		if _, again := cutZonePrefix(spec); again {
			return nil, fmt.Errorf("schedule %q: only one time zone prefix is allowed", spec)
		}
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("schedule %q: bad duration: %v", spec, err)
		}
		if dur < time.Second {
			return nil, fmt.Errorf("schedule %q: @every needs at least 1s", spec)
		}
		if zoned {
			return nil, fmt.Errorf("schedule %q: @every takes no time zone", spec)
		}
	}
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("schedule %q: %v", spec, r)
		}
	}()
	sched, err = specParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v", spec, err)
	}
	if ss, ok := sched.(*cron.SpecSchedule); ok {
		ss.Location = loc
	}
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", spec)
	}
	return sched, nil
}

func cutZonePrefix(spec string) (string, bool) {
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(spec, p); ok {
			return rest, true
		}
	}
	return "", false
}

// LoadZone loads a time zone by IANA name; "" and "UTC" are UTC, "Local"
// is the process's zone ($TZ, /etc/localtime).
func LoadZone(name string) (*time.Location, error) {
	switch name {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return time.Local, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}
