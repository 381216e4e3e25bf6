"""Five-field cron schedules (minute hour day-of-month month day-of-week),
with ranges, lists, steps, names and the @hourly style macros."""
import calendar
import time

_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@hourly": "0 * * * *"}
_NAMES = {m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec"])}
_NAMES.update({d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])})
_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]


def _field(text, lo, hi):
    out = set()
    for part in text.lower().split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/", 1)
            step = int(s)
        if part in ("*", "?"):
            a, b = lo, hi
        elif "-" in part:
            a, b = (int(_NAMES.get(x, x)) for x in part.split("-", 1))
        else:
            a = int(_NAMES.get(part, part))
            b = hi if step > 1 else a
        if a < lo or b > hi + (1 if hi == 6 else 0) or step < 1:
            raise ValueError("cron field %r out of range" % text)
        out.update(x % 7 if hi == 6 else x for x in range(a, b + 1, step))
    return out


class Schedule:
    def __init__(self, text):
        text = text.strip()
        if text.startswith("TZ=") or text.startswith("CRON_TZ="):
            text = text.split(None, 1)[1]
        text = _MACROS.get(text, text)
        parts = text.split()
        if len(parts) != 5:
            raise ValueError("expected exactly 5 fields, found %d: %s" % (len(parts), text))
        self.sets = [_field(p, lo, hi) for p, (lo, hi) in zip(parts, _RANGES)]
        self.dom_star, self.dow_star = parts[2] in ("*", "?"), parts[4] in ("*", "?")

    def matches(self, t):
        tm = time.gmtime(t)
        mi, h, dom, mon, dow = self.sets
        if tm.tm_min not in mi or tm.tm_hour not in h or tm.tm_mon not in mon:
            return False
        wd = (tm.tm_wday + 1) % 7
        if self.dom_star or self.dow_star:
            return tm.tm_mday in dom and wd in dow
        return tm.tm_mday in dom or wd in dow

    def next_after(self, t):
        """The first matching minute strictly after t (UTC), or None."""
        m = (int(t) // 60 + 1) * 60
        end = m + 5 * 366 * 86400
        mi, h = self.sets[0], self.sets[1]
        while m < end:
            tm = time.gmtime(m)
            if not self._day_ok(tm):
                m = (m // 86400 + 1) * 86400          # next day, 00:00
            elif tm.tm_hour not in h:
                m = (m // 3600 + 1) * 3600            # next hour, :00
            elif tm.tm_min not in mi:
                m += 60
            else:
                return m
        return None

    def _day_ok(self, tm):
        _, _, dom, mon, dow = self.sets
        if tm.tm_mon not in mon:
            return False
        wd = (tm.tm_wday + 1) % 7
        if self.dom_star or self.dow_star:
            return tm.tm_mday in dom and wd in dow
        return tm.tm_mday in dom or wd in dow
