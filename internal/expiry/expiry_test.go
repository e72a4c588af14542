package expiry

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"close-recharge/internal/fault"
)

var schedulerName = regexp.MustCompile(`^[0-9A-Za-z_.-]{1,64}$`)

func TestScheduleNameFollowsSchedulersRules(t *testing.T) {
	long := strings.Repeat("9", 32)
	pairs := [][2]string{
		{"1900000109", "RC20261201001"},
		{"1", "A"},
		{long, strings.Repeat("A", 64)},
		{long, strings.Repeat("A", 63) + "B"},
		{long[:31], strings.Repeat("A", 64)},
		{"1900000109", strings.Repeat("x", 47)}, // 64 exactly: still readable
		{"1900000109", strings.Repeat("x", 48)}, // 65: hashed
		{"19", "1A"},
		{"191", "A"}, // readable close-19-1A beside close-191-A
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		name := ScheduleName(p[0], p[1])
		if !schedulerName.MatchString(name) {
			t.Errorf("ScheduleName(%q, %q) = %q (%d chars): not a Scheduler name", p[0], p[1], name, len(name))
		}
		if again := ScheduleName(p[0], p[1]); again != name {
			t.Errorf("ScheduleName(%q, %q) = %q, then %q", p[0], p[1], name, again)
		}
		if other, ok := seen[name]; ok {
			t.Errorf("%v and %v share the name %q", other, p, name)
		}
		seen[name] = p
	}
	if got := ScheduleName("1900000109", "RC20261201001"); got != "close-1900000109-RC20261201001" {
		t.Errorf("a short pair's name = %q, want it readable", got)
	}
	if got := ScheduleName("1900000109", strings.Repeat("x", 47)); got != "close-1900000109-"+strings.Repeat("x", 47) {
		t.Errorf("a 64-character name = %q, want it readable", got)
	}
}

// Many long pairs that differ in one character each get names of their own.
func TestLongScheduleNamesAreDistinct(t *testing.T) {
	seen := map[string]string{}
	for i := range 2000 {
		sub, no := strings.Repeat("8", 32), fmt.Sprintf("%064d", i)
		name := ScheduleName(sub, no)
		if len(name) > 64 {
			t.Fatalf("ScheduleName(%s, %s) has %d characters", sub, no, len(name))
		}
		if other, ok := seen[name]; ok {
			t.Fatalf("%s and %s share the name %q", other, no, name)
		}
		seen[name] = no
	}
}

func TestValidate(t *testing.T) {
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	ok := func(expire string) Request {
		return Request{SubMchid: "1900000109", OutRechargeNo: "RC1", ExpireTime: expire}
	}
	valid := []struct {
		name string
		req  Request
		want time.Time
	}{
		{"offset", ok("2026-12-01T18:00:00+08:00"), time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{"Z", ok("2026-12-01T10:00:00Z"), time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{"fraction", ok("2026-12-01T10:00:00.5Z"), time.Date(2026, 12, 1, 10, 0, 0, 5e8, time.UTC)},
		{"past", ok("2026-11-01T10:00:00Z"), time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)},
		{"exactly 7 days", ok("2026-12-08T10:00:00+08:00"), now.Add(7 * 24 * time.Hour)},
	}
	for _, tt := range valid {
		got, err := tt.req.Validate(now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("%s: Validate = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	invalid := []struct {
		name string
		req  Request
		want string
	}{
		{"no offset", ok("2026-12-01T10:00:00"), "expire_time \"2026-12-01T10:00:00\" has no UTC offset"},
		{"no offset, fraction", ok("2026-12-01T10:00:00.250"), "has no UTC offset"},
		{"a second past 7 days", ok("2026-12-08T10:00:01+08:00"), "expire_time must be at most 7 days after the request (until 2026-12-08T02:00:00Z)"},
		{"8 days", ok("2026-12-09T02:00:00Z"), "at most 7 days"},
		{"not a time", ok("tomorrow"), "expire_time must be RFC 3339"},
		{"a date", ok("2026-12-01"), "expire_time must be RFC 3339"},
		{"missing", ok(""), "expire_time is required"},
		{"bad sub_mchid", Request{SubMchid: "19x", OutRechargeNo: "RC1", ExpireTime: "2026-12-01T10:00:00Z"}, "sub_mchid must be"},
		{"bad out_recharge_no", Request{SubMchid: "1900000109", OutRechargeNo: "RC-1", ExpireTime: "2026-12-01T10:00:00Z"}, "out_recharge_no must be"},
		{"long out_recharge_no", Request{SubMchid: "1900000109", OutRechargeNo: strings.Repeat("A", 65), ExpireTime: "2026-12-01T10:00:00Z"}, "out_recharge_no must be"},
		{"no sub_mchid", Request{OutRechargeNo: "RC1", ExpireTime: "2026-12-01T10:00:00Z"}, "sub_mchid is required"},
	}
	for _, tt := range invalid {
		_, err := tt.req.Validate(now)
		if fault.KindOf(err) != fault.InvalidInput || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want invalid input with %q", tt.name, err, tt.want)
		}
	}
}
