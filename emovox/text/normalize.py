"""Text normalisation: written forms -> words that a phonemiser reads correctly.

English is thorough: URLs and e-mail addresses, dates, times, currency, percentages, units and temperatures,
ordinals, decades, fractions, ranges, years, cardinals with thousands separators, decimals and negatives,
abbreviations (titles, street/saint, Latin ones, months), dotted acronyms and symbols. Numbers are spelled with
``num2words`` (its English currency names too); the tables here are only what no maintained library provides
(abbreviations, unit names). Other languages get Unicode/punctuation cleanup and numbers through num2words where
it supports the language; espeak-ng reads the digits of the remaining languages itself.

The result contains only words, spaces and the prosodic punctuation of
:data:`~emovox.text.symbols.PUNCTUATION`, so that every ``.`` left is a sentence end.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

from num2words import CONVERTER_CLASSES, num2words

__all__ = ["Normalizer", "abbreviations", "clean_unicode", "normalize", "num2words_language"]

# --- Unicode and punctuation cleanup (all languages) -------------------------------------------------------

_PUNCT_MAP = str.maketrans(
    {
        "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "`": "'", "´": "'",
        "“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"', "″": '"', "‹": '"', "›": '"',
        "―": "—", "‒": "—", "−": "-", "⁄": "/", "‐": "-", "‑": "-",
        "。": ".", "｡": ".", "、": ",", "､": ",", "।": ".", "॥": ".", "؟": "?", "،": ",", "؛": ";", "჻": ".",
        "[": "(", "]": ")", "{": "(", "}": ")", "·": " ", "•": " ", "¶": " ", "§": " section ",
        "*": " ", "_": " ", "~": " ", "^": " ", "|": " ", "\\": " ", "<": " ", ">": " ",
    }
)  # fmt: skip
_WS = re.compile(r"\s+")


def clean_unicode(text: str) -> str:
    """NFKC, control/format/unassigned characters removed, quotes/dashes/CJK punctuation mapped, spaces collapsed."""
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] == "C" or cat in ("Zl", "Zp"):
            kept.append(" " if ch in "\t\n\r\v\f\x85" or cat in ("Zl", "Zp") else "")
        else:
            kept.append(ch)
    text = unicodedata.normalize("NFKC", "".join(kept)).translate(_PUNCT_MAP)
    text = re.sub(r"\.{3,}|…+", "…", text)
    text = re.sub(r"(?<=\d)\s*–\s*(?=\d)", "-", text)  # en dash in a numeric range
    text = text.replace("–", "—").replace(" - ", " — ")
    text = re.sub(r"-{2,}", "—", text)
    return _WS.sub(" ", text).strip()


def _tidy(text: str) -> str:
    """Collapse spaces, drop spaces before punctuation, squeeze repeated punctuation (``!!!`` -> ``!``)."""
    text = re.sub(r"\s+([.,;:!?…)])", r"\1", text)
    text = re.sub(r"([(¡¿])\s+", r"\1", text)
    text = re.sub(r"([,;:!?])(?=[^\W\d_])", r"\1 ", text)
    text = re.sub(r"([.,;:!?])\1+", r"\1", text)
    text = re.sub(r"[,;:]+([.!?])", r"\1", text)
    return _WS.sub(" ", text).strip()


# --- number words ---------------------------------------------------------------------------------------------

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _words(s: str) -> str:
    return s.replace(",", "")  # num2words puts commas between groups; they would become pauses


def _cardinal(n: int) -> str:
    if abs(n) >= 10**21:  # beyond named scales people say: read the digits
        return ("minus " if n < 0 else "") + " ".join(_DIGITS[int(d)] for d in str(abs(n)))
    return _words(num2words(n, lang="en"))


def _number(token: str) -> str:
    """A decimal numeral as words: ``-1,234.50`` -> "minus one thousand two hundred thirty-four point five zero"."""
    neg = token.startswith("-")
    token = token.lstrip("-").replace(",", "")
    whole, _, frac = token.partition(".")
    if len(whole) > 1 and whole.startswith("0"):
        words = " ".join(_DIGITS[int(d)] for d in whole)  # 007, zip codes
    else:
        words = _cardinal(int(whole or "0"))
    if frac:
        words += " point " + " ".join(_DIGITS[int(d)] for d in frac)
    return ("minus " if neg else "") + words


def _ordinal(n: int) -> str:
    return _words(num2words(n, lang="en", to="ordinal"))


def _year(n: int) -> str:
    return _words(num2words(n, lang="en", to="year"))


# --- English tables (no maintained library provides these) --------------------------------------------------

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip
_MONTH_ABBR = {m[:3].lower(): m for m in _MONTHS} | {"sept": "September"}
_MONTH_RE = (
    r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)

# Titles precede a name; they are expanded with or without a dot when a capitalised word follows.
_TITLES = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "prof": "professor", "gen": "general",
    "capt": "captain", "lt": "lieutenant", "col": "colonel", "sgt": "sergeant", "rev": "reverend",
    "hon": "honorable", "gov": "governor", "sen": "senator", "rep": "representative", "pres": "president",
    "mt": "mount", "ft": "fort", "fr": "father", "messrs": "messieurs", "mme": "madame",
}  # fmt: skip
# Abbreviations that need their dot; the value may end a sentence, so the dot is kept there.
_ABBREVIATIONS = {
    "jr": "junior", "sr": "senior", "ave": "avenue", "blvd": "boulevard", "rd": "road", "ln": "lane",
    "co": "company", "corp": "corporation", "inc": "incorporated", "ltd": "limited", "dept": "department",
    "univ": "university", "approx": "approximately", "vs": "versus", "etc": "et cetera", "est": "established",
    "vol": "volume", "fig": "figure", "ch": "chapter", "pp": "pages", "assn": "association", "bros": "brothers",
    "e.g": "for example", "i.e": "that is", "cf": "compare", "a.k.a": "also known as", "viz": "namely",
    "ph.d": "P H D",
}  # fmt: skip
_CURRENCY_SYMBOLS = {"$": "USD", "US$": "USD", "£": "GBP", "€": "EUR", "₹": "INR", "₽": "RUB", "¥": "JPY"}
_CURRENCY_NAMES = {  # English names num2words lacks or spells unidiomatically
    "GBP": (("pound", "pounds"), ("penny", "pence")),
    "EUR": (("euro", "euros"), ("cent", "cents")),
    "JPY": (("yen", "yen"), ("sen", "sen")),
}
_UNITS = {  # symbol -> (singular, plural); case-sensitive
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "µm": ("micrometer", "micrometers"), "nm": ("nanometer", "nanometers"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pounds", "pounds"), "oz": ("ounce", "ounces"), "mi": ("mile", "miles"),
    "ft": ("foot", "feet"), "yd": ("yard", "yards"), "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"), "l": ("liter", "liters"), "L": ("liter", "liters"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"), "gal": ("gallon", "gallons"),
    "h": ("hour", "hours"), "hr": ("hour", "hours"), "hrs": ("hours", "hours"), "min": ("minute", "minutes"),
    "sec": ("second", "seconds"), "ms": ("millisecond", "milliseconds"), "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"), "GHz": ("gigahertz", "gigahertz"),
    "kB": ("kilobyte", "kilobytes"), "KB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "W": ("watt", "watts"),
    "kW": ("kilowatt", "kilowatts"), "kWh": ("kilowatt hour", "kilowatt hours"), "V": ("volt", "volts"),
    "dB": ("decibel", "decibels"), "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "°": ("degree", "degrees"),
}  # fmt: skip
_SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "×": " times ", "÷": " divided by ",
            "%": " percent ", "#": " number ", "/": " slash "}  # fmt: skip

_NUM = r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?"  # 1,234,567.8 | 42 | -3.5
_SCALE = r"(?:\s?(thousand|million|billion|trillion|[kKmMbB]n?)\b)?"
_SCALE_WORDS = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion"}


def abbreviations() -> frozenset[str]:
    """Lower-case English abbreviations (without their final dot) after which a ``.`` does not end a sentence."""
    return frozenset((*_TITLES, *_ABBREVIATIONS, "st", "no", "nos"))


def _unit_words(value: str, unit: str) -> str:
    singular, plural = _UNITS[unit]
    return f"{_number(value)} {singular if value.lstrip('-') in ('1', '1.0') else plural}"


# --- English rules: each a (pattern, replacement) applied in order --------------------------------------------


def _read_url(m: re.Match) -> str:
    url = re.sub(r"^[a-z]+://", "", m.group(0), flags=re.IGNORECASE).rstrip("/")
    names = {".": " dot ", "/": " slash ", "-": " dash ", "_": " underscore ", "?": " question mark ",
             "=": " equals ", "&": " and ", ":": " colon ", "#": " hash ", "@": " at ", "~": " tilde ",
             "+": " plus ", "%": " percent "}  # fmt: skip
    return " " + "".join(names.get(ch, ch) for ch in url) + " "


def _iso_date(m: re.Match) -> str:
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return m.group(0)
    return f"{_MONTHS[mo - 1]} {_ordinal(d)}, {_year(y)}"


def _numeric_date(m: re.Match, day_first: bool) -> str:
    a, b, y = int(m.group(1)), int(m.group(2)), m.group(3)
    month, day = (b, a) if day_first or a > 12 else (a, b)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0)
    year = int(y) + (2000 if int(y) < 50 else 1900) if len(y) == 2 else int(y)
    return f"{_MONTHS[month - 1]} {_ordinal(day)}, {_year(year)}"


def _month_name(token: str) -> str:
    key = token.rstrip(".").lower()
    return "September" if key.startswith("sept") else _MONTH_ABBR.get(key[:3], token)


def _month_day(m: re.Match) -> str:
    out = f"{_month_name(m.group(1))} {_ordinal(int(m.group(2)))}"
    return out + (f", {_year(int(m.group(3)))}" if m.group(3) else "")


def _day_month(m: re.Match) -> str:
    out = f"the {_ordinal(int(m.group(1)))} of {_month_name(m.group(2))}"
    return out + (f", {_year(int(m.group(3)))}" if m.group(3) else "")


def _ampm(s: str | None, m: re.Match) -> str:
    if not s:
        return ""
    words = " ay em" if s.lower().startswith("a") else " pee em"
    rest = m.string[m.end() :]
    # "at 3 p.m." at a sentence end: the abbreviation's dot is also the full stop.
    return words + ("." if s.endswith(".") and (not rest.strip() or re.match(r"\s+[A-Z]", rest)) else "")


def _time(m: re.Match) -> str:
    h, mi, sec, ap = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
    if h > 24 or mi > 59:
        return m.group(0)
    if mi == 0:
        words = _cardinal(h) + ("" if ap else " o'clock" if h <= 12 else " hundred")
    elif mi < 10:
        words = f"{_cardinal(h)} oh {_cardinal(mi)}"
    else:
        words = f"{_cardinal(h)} {_cardinal(mi)}"
    if sec and int(sec):
        words += f" and {_cardinal(int(sec))} seconds"
    return words + _ampm(ap, m)


def _currency(m: re.Match) -> str:
    code = _CURRENCY_SYMBOLS[m.group(1)]
    value, scale = m.group(2).replace(",", ""), m.group(3)
    # (Not .get(code, default): the default would be looked up, and fail, even for the codes named here.)
    forms = (
        _CURRENCY_NAMES[code] if code in _CURRENCY_NAMES else CONVERTER_CLASSES["en"].CURRENCY_FORMS.get(code)
    )
    if forms is None:
        return m.group(0)
    (unit1, units), (cent1, cents) = forms
    if scale:  # "$2.5 million" -> "two point five million dollars"
        return f"{_number(value)} {_SCALE_WORDS.get(scale.lower(), scale.lower())} {units}"
    whole, _, frac = value.partition(".")
    n_whole, n_frac = int(whole or "0"), int((frac + "00")[:2]) if frac else 0
    parts = []
    if n_whole or not n_frac:
        parts.append(f"{_cardinal(n_whole)} {unit1 if n_whole == 1 else units}")
    if n_frac:
        parts.append(f"{_cardinal(n_frac)} {cent1 if n_frac == 1 else cents}")
    return " and ".join(parts)


def _fraction(m: re.Match) -> str:
    num, den = int(m.group(1)), int(m.group(2))
    if den == 0:
        return f"{_cardinal(num)} over zero"
    if den == 2:
        name = "half" if num == 1 else "halves"
    elif den == 4:
        name = "quarter" if num == 1 else "quarters"
    elif den == 1:
        return f"{_cardinal(num)} over one"
    else:
        name = _ordinal(den) + ("" if num == 1 else "s")
    return f"{_cardinal(num)} {name}"


def _decade(m: re.Match) -> str:
    n = int(m.group(1))
    words = _year(n) if n >= 100 else _cardinal(n)
    return (words[:-1] + "ies") if words.endswith("y") else words + "s"


def _abbreviation(m: re.Match) -> str:
    key = m.group(1).lower().rstrip(".")
    word = _ABBREVIATIONS[key]
    rest = m.string[m.end() :]
    ends_sentence = not rest.strip() or bool(re.match(r"\s+[A-Z\"(]", rest) and key not in ("vs", "cf"))
    return word + ("." if ends_sentence else "")


def _street_or_saint(m: re.Match) -> str:
    before = m.string[: m.start()].rstrip()
    prev_word = before.split(" ")[-1] if before else ""
    after = m.string[m.end() :].lstrip()
    # "Baker St." (a capitalised name before, no name after) is a street; "St. Paul" is a saint.
    street = (prev_word[:1].isupper() and prev_word.isalpha() and not after[:1].isupper()) or not after[
        :1
    ].isupper()
    word = "street" if street else "saint"
    keep_dot = m.group(0).endswith(".") and (not after or (street and after[:1].isupper()))
    return word + ("." if keep_dot else "")


def _initial(m: re.Match) -> str:
    """'J. Smith' -> 'J Smith' when the letter follows a capitalised word (a name or title) or starts the text."""
    before = m.string[: m.start()].rstrip().split(" ")[-1]
    return m.group(1) if not before or before[:1].isupper() else m.group(0)


def _acronym(m: re.Match) -> str:
    letters = m.group(0).replace(".", "").upper()
    rest = m.string[m.end() :]
    return letters + ("." if not rest.strip() or re.match(r"\s+[A-Z]", rest) else "")


def _english_rules(day_first: bool) -> list[tuple[re.Pattern, str | Callable[[re.Match], str]]]:
    units = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
    return [
        (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), _read_url),
        (re.compile(r"\b(?:https?://|www\.)[^\s\"()]*[^\s\"().,;:!?]", re.IGNORECASE), _read_url),
        (
            re.compile(
                r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|io|ai|dev|app|info)\b(?:/\S*[^\s.,;:!?])?",
                re.IGNORECASE,
            ),
            _read_url,
        ),
        (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), _iso_date),
        (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b"), lambda m: _numeric_date(m, day_first)),
        (re.compile(rf"\b{_MONTH_RE}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?"), _month_day),
        (
            re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_RE}(?:,?\s+(\d{{4}})\b)?"),
            _day_month,
        ),
        (
            re.compile(rf"\b{_MONTH_RE}\s+(\d{{4}})\b"),
            lambda m: f"{_month_name(m.group(1))} {_year(int(m.group(2)))}",
        ),
        (re.compile(r"\b(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([ap]\.?m\.?)(?![a-z]))?", re.IGNORECASE), _time),
        (
            re.compile(r"\b(\d{1,2})\s*([ap]\.?m\.?)(?![a-z])", re.IGNORECASE),
            lambda m: _cardinal(int(m.group(1))) + _ampm(m.group(2), m),
        ),
        (re.compile(rf"(US\$|[$£€₹₽¥])\s?({_NUM.replace('-?', '')}){_SCALE}"), _currency),
        (re.compile(rf"(?<![\w.])({_NUM})\s?%"), lambda m: f"{_number(m.group(1))} percent"),
        (
            re.compile(rf"(?<![\w.])({_NUM})\s?({units})(?![\w/])"),
            lambda m: _unit_words(m.group(1), m.group(2)),
        ),
        (re.compile(r"\b(\d+)(?:st|nd|rd|th)\b"), lambda m: _ordinal(int(m.group(1)))),
        (re.compile(r"(?:\b|')(\d{2}|\d{3}0)'?s\b"), _decade),
        (re.compile(r"(?<![\w/])(\d+)/(\d+)(?![\w/])"), _fraction),
        (re.compile(r"(?<=\d)\s?-\s?(?=\d)"), " to "),
        (re.compile(r"\b(?:No|no|Nos)\.\s?(?=\d)"), "number "),
        (re.compile(r"#\s?(?=\d)"), "number "),
        (re.compile(r"\b([A-Z])\.(?=\s+[A-Z])"), _initial),
        (
            re.compile(
                r"\b(Mr|Mrs|Ms|Dr|Prof|Gen|Capt|Lt|Col|Sgt|Rev|Hon|Gov|Sen|Rep|Pres|Mt|Ft|Fr|Messrs|Mme)\b\.?(?=\s+[A-Z])"
            ),
            lambda m: _TITLES[m.group(1).lower()],
        ),
        (re.compile(r"\bSt\.?(?=\s|$)"), _street_or_saint),
        (
            re.compile(
                r"(?<![\w.])("
                + "|".join(re.escape(k) for k in sorted(_ABBREVIATIONS, key=len, reverse=True))
                + r")\.",
                re.IGNORECASE,
            ),
            _abbreviation,
        ),
        (
            re.compile(rf"\b{_MONTH_RE}(?=\s|$)"),
            lambda m: (
                _month_name(m.group(1)) if m.group(0).endswith(".") or len(m.group(1)) > 3 else m.group(0)
            ),
        ),
        (re.compile(r"(?<![\w.])(?:[A-Za-z]\.){2,}(?![\w])"), _acronym),
        (re.compile(r"\b(\d+)(?:\.\d+){2,}\b"), lambda m: m.group(0).replace(".", " point ")),
        (re.compile(r"(?<![\d,.])(1[1-9]\d\d|20\d\d)(?![\d,]|\.\d)"), lambda m: _year(int(m.group(1)))),
        (re.compile(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])"), " "),
        (
            re.compile(r"(?<![\w.])\.(\d+)"),
            lambda m: "point " + " ".join(_DIGITS[int(d)] for d in m.group(1)),
        ),
        (
            re.compile(r"(?<![\w.])(-?)(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"),
            lambda m: _number(m.group(1) + m.group(2)),
        ),
        (re.compile(r"[&+=@×÷%#/]"), lambda m: _SYMBOLS[m.group(0)]),
    ]


# --- other languages -----------------------------------------------------------------------------------------

_NUM2WORDS_ALIASES = {"kk": "kz", "nb": "no", "nn": "no", "pt-br": "pt_BR", "en-in": "en_IN", "fr-be": "fr_BE",
                      "fr-ch": "fr_CH", "es-co": "es_CO", "es-ve": "es_VE"}  # fmt: skip


def num2words_language(language: str) -> str | None:
    """The num2words language for an espeak-style code, or None when num2words has none."""
    key = language.lower().replace("_", "-")
    if key in _NUM2WORDS_ALIASES:
        return _NUM2WORDS_ALIASES[key]
    base = key.split("-")[0]
    base = _NUM2WORDS_ALIASES.get(base, base)
    return base if base in CONVERTER_CLASSES else None


class Normalizer:
    """``Normalizer(language)(text) -> str``. Thread-safe (stateless after construction).

    Args:
        language: espeak-style code; ``en``, ``en-us``, ``en-gb`` … use the English rules (``en-gb`` and other
            non-US English read numeric dates day first), any other language the light fallback.
    """

    def __init__(self, language: str = "en-us") -> None:
        self.language = language.lower().replace("_", "-")
        self.is_english = self.language == "en" or self.language.startswith("en-")
        self._rules = (
            _english_rules(day_first=self.language not in ("en-us", "en")) if self.is_english else []
        )
        self._n2w = None if self.is_english else num2words_language(self.language)

    def __call__(self, text: str) -> str:
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        text = clean_unicode(text)
        if self.is_english:
            for pattern, repl in self._rules:
                text = pattern.sub(repl, text)
        elif self._n2w:
            text = re.sub(r"(?<![\w.,])-?\d+(?:[.,]\d+)?(?![\w])", self._fallback_number, text)
        return _tidy(text)

    def _fallback_number(self, m: re.Match) -> str:
        token = m.group(0).replace(",", ".")  # a decimal comma in most of these languages
        try:
            value = float(token) if "." in token else int(token)
            if abs(value) >= 10**15:
                return token
            return _words(num2words(value, lang=self._n2w))
        except (NotImplementedError, OverflowError, ValueError, TypeError, ArithmeticError):
            return m.group(0)  # espeak-ng reads digits itself


@functools.lru_cache(maxsize=32)
def _normalizer(language: str) -> Normalizer:
    return Normalizer(language)


def normalize(text: str, language: str = "en-us") -> str:
    """Normalise ``text`` for ``language`` (see :class:`Normalizer`)."""
    return _normalizer(language)(text)
