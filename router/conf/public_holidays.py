"""A country's public holidays from a maintained library, for a calendar's `public_holidays`.

China (`CN`) comes from `chinese-calendar`, which follows the State Council's yearly notice: its
holidays and the weekend days worked in their stead (调休: a Saturday can be a working day), and
it is republished each year when the notice comes out (in November or December). Every other
country comes from `holidays` (python-holidays, ISO 3166 codes: DE, US, GB, ...), which has no
such working days. Years a library does not know yet count as ordinary years: `covered_until`
says up to when it knows, and the config check warns about it (`frontdesk calendar show` prints
it too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class PublicDays:
    holidays: dict[date, str]  # closed, with the holiday's name
    working_days: dict[date, str]  # weekend days worked in lieu (China), with the holiday's name
    covered_until: date | None  # the last day the library knows about (None: it says nothing)


def known_country(code: str) -> bool:
    if code == "CN":
        return True
    import holidays

    return code in holidays.list_supported_countries()


def public_days(code: str, first_year: int, last_year: int) -> PublicDays:
    """The public holidays of country `code` in the years from `first_year` to `last_year`."""
    if code == "CN":
        import chinese_calendar

        years = range(first_year, last_year + 1)
        off = {d: str(n) for d, n in chinese_calendar.holidays.items() if d.year in years}
        worked = {d: str(n) for d, n in chinese_calendar.workdays.items() if d.year in years}
        # the library lists every date it knows in `holidays` or `workdays`, weekends included
        # only as holidays: what it knows ends with the last year its notice covered
        last = max(chinese_calendar.holidays)
        return PublicDays(off, worked, date(last.year, 12, 31))
    import holidays

    found = holidays.country_holidays(code, years=range(first_year, last_year + 1))
    return PublicDays({d: str(n) for d, n in found.items()}, {}, None)
