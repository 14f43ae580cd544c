import pytest

from emovox.text.normalize import Normalizer, clean_unicode, normalize, num2words_language

ENGLISH = [
    # cardinals, decimals, negatives, separators
    ("I have 3 apples.", "I have three apples."),
    ("The population is 1,234,567 people.", "The population is one million two hundred and thirty-four thousand five hundred and sixty-seven people."),
    ("Pi is 3.14159.", "Pi is three point one four one five nine."),
    ("It is 0.5 mm thick.", "It is zero point five millimeters thick."),
    ("The temperature is -5 degrees.", "The temperature is minus five degrees."),
    ("It fell to −12.", "It fell to minus twelve."),
    ("The code is 007.", "The code is zero zero seven."),
    ("Version 1.2.3 is out.", "Version one point two point three is out."),
    ("It costs .5 dollars", "It costs point five dollars"),
    ("Sold 12,000 units.", "Sold twelve thousand units."),
    ("0", "zero"),
    ("1000000", "one million"),
    # ordinals
    ("He finished 1st and she was 22nd.", "He finished first and she was twenty-second."),
    ("The 101st Airborne.", "The one hundred and first Airborne."),
    ("Her 3rd try.", "Her third try."),
    # years and decades
    ("It happened in 1999.", "It happened in nineteen ninety-nine."),
    ("In 2005 things changed.", "In two thousand and five things changed."),
    ("In 2024 we met.", "In twenty twenty-four we met."),
    ("The 1990s were fun.", "The nineteen nineties were fun."),
    ("In the '80s music changed.", "In the eighties music changed."),
    ("The 2000s were odd.", "The two thousands were odd."),
    # dates
    ("Born on 2024-03-15.", "Born on March fifteenth, twenty twenty-four."),
    ("On 03/15/2024 we met.", "On March fifteenth, twenty twenty-four we met."),
    ("On 15/03/2024 we met.", "On March fifteenth, twenty twenty-four we met."),
    ("On March 5, 2024, it rained.", "On March fifth, twenty twenty-four, it rained."),
    ("On 5 March 2024 it rained.", "On the fifth of March, twenty twenty-four it rained."),
    ("On Jan. 5 we left.", "On January fifth we left."),
    ("Due December 25th.", "Due December twenty-fifth."),
    ("Since May 1990.", "Since May nineteen ninety."),
    # times
    ("Call me at 3:30 pm.", "Call me at three thirty pee em."),
    ("Call me at 3:30 p.m. Then go.", "Call me at three thirty pee em. Then go."),
    ("Meet at 10:05.", "Meet at ten oh five."),
    ("It starts at 12:00.", "It starts at twelve o'clock."),
    ("See you at 7am.", "See you at seven ay em."),
    ("Dr. J. R. Smith came.", "doctor J R Smith came."),
    ("It was plan A. Then B.", "It was plan A. Then B."),
    # currency
    ("It costs $5.50 today.", "It costs five dollars and fifty cents today."),
    ("It costs $1.", "It costs one dollar."),
    ("Only $0.99!", "Only ninety-nine cents!"),
    ("Pay £3.20 now.", "Pay three pounds and twenty pence now."),
    ("€100 is enough.", "one hundred euros is enough."),
    ("$2.5 million was raised.", "two point five million dollars was raised."),
    ("Our budget is $3bn.", "Our budget is three billion dollars."),
    ("Sold for $1,200.", "Sold for one thousand two hundred dollars."),
    # percentages, units, temperatures
    ("Growth was 3.5% last year.", "Growth was three point five percent last year."),
    ("That's 100%.", "That's one hundred percent."),
    ("It was 20°C outside.", "It was twenty degrees Celsius outside."),
    ("It was -3.5°F.", "It was minus three point five degrees Fahrenheit."),
    ("It weighs 5 kg and is 2.5 m long.", "It weighs five kilograms and is two point five meters long."),
    ("Drive 60 mph on a 1 km road.", "Drive sixty miles per hour on a one kilometer road."),
    ("He ran 5km.", "He ran five kilometers."),
    ("The file is 2 GB.", "The file is two gigabytes."),
    ("The temp rose 2°.", "The temp rose two degrees."),
    ("A 1 ft pole.", "A one foot pole."),
    # fractions, ranges, symbols
    ("Add 1/2 cup and 3/4 cup.", "Add one half cup and three quarters cup."),
    ("Two thirds: 2/3.", "Two thirds: two thirds."),
    ("½ a loaf", "one half a loaf"),
    ("Pages 10-20 are missing.", "Pages ten to twenty are missing."),
    ("Rock & roll.", "Rock and roll."),
    ("It's 2+2=4.", "It's two plus two equals four."),
    ("Call #5 now.", "Call number five now."),
    ("She's the No. 1 player.", "She's the number one player."),
    # abbreviations
    ("Mr. Smith met Dr. Jones.", "mister Smith met doctor Jones."),
    ("Mrs Brown lives on Baker St.", "missus Brown lives on Baker street."),
    ("St. Paul's Cathedral is big.", "saint Paul's Cathedral is big."),
    ("Apples, pears, etc. are fruit.", "Apples, pears, et cetera are fruit."),
    ("We ate apples, pears, etc. Then we left.", "We ate apples, pears, et cetera. Then we left."),
    ("Use a tool, e.g. a hammer.", "Use a tool, for example a hammer."),
    ("That is, i.e. nothing.", "That is, that is nothing."),
    ("Prof. Lee and Gen. Grant.", "professor Lee and general Grant."),
    ("Capt. Kirk vs. Khan.", "captain Kirk versus Khan."),
    # acronyms, alphanumerics
    ("The U.S.A. is large.", "The USA is large."),
    ("COVID-19 was bad.", "COVID-nineteen was bad."),
    ("x86 chips.", "x eighty-six chips."),
    ("MP3 player.", "MP three player."),
    # URLs and e-mail
    ("Visit https://www.example.com/path now.", "Visit www dot example dot com slash path now."),
    ("Write to john.doe@example.org today.", "Write to john dot doe at example dot org today."),
    ("Go to example.com for more.", "Go to example dot com for more."),
    # Unicode and punctuation cleanup
    ("“Hello,” she said — ‘really’?", "\"Hello,\" she said — 'really'?"),
    ("Wait!!! What???", "Wait! What?"),
    ("He scored 3 goals... then left.", "He scored three goals… then left."),
    ("a\u200bb\x00c  \t d", "abc d"),
    ("ｆｕｌｌ ｗｉｄｔｈ", "full width"),
    ("one,two", "one, two"),
    ("( spaced ) words .", "(spaced) words."),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected"), ENGLISH)
def test_english(raw, expected):
    assert normalize(raw, "en-us") == expected


def test_case_count():
    assert len(ENGLISH) >= 60


def test_british_dates_are_day_first():
    assert normalize("On 03/04/2024.", "en-gb") == "On April third, twenty twenty-four."
    assert normalize("On 03/04/2024.", "en-us") == "On March fourth, twenty twenty-four."


def test_output_has_only_sentence_dots():
    out = normalize("Dr. J. Smith, Ph.D., paid $3.50 at 3 p.m. on Jan. 3 (approx. 5 km).")
    assert "$" not in out and not any(ch.isdigit() for ch in out)
    assert out.count(".") == 1 and out.endswith(".")  # only the full stop remains


@pytest.mark.parametrize(
    ("lang", "raw", "expected"),
    [
        ("de", "Das kostet 25 Euro.", "Das kostet fünfundzwanzig Euro."),
        ("de", "3,5 Prozent", "drei Komma fünf Prozent"),
        ("fr", "J'ai 3 chats.", "J'ai trois chats."),
        ("es", "Tengo 21 años.", "Tengo veintiuno años."),
        ("pl", "Mam 2 koty.", "Mam dwa koty."),
        ("kk", "5 алма", "бес алма"),
        ("zh", "我有3个苹果。", "我有3个苹果."),  # num2words has no Chinese: espeak reads digits
    ],
)
def test_other_languages(lang, raw, expected):
    assert normalize(raw, lang) == expected


def test_num2words_language_map():
    assert num2words_language("kk") == "kz"
    assert num2words_language("pt-BR") == "pt_BR"
    assert num2words_language("de") == "de"
    assert num2words_language("cmn") is None


def test_clean_unicode_nfkc_and_controls():
    assert clean_unicode("ﬁne\u2028line\r\nx") == "fine line x"
    assert clean_unicode("\ud800bad") == "bad"


def test_rejects_non_string():
    with pytest.raises(TypeError):
        Normalizer("en-us")(b"bytes")


def test_every_currency_symbol_is_spoken():
    from emovox.text.normalize import Normalizer

    out = Normalizer("en")("¥500, ₽20, ₹3, €1.50, £2 and $4.")
    assert (
        "yen" in out
        and "euro" in out
        and "pound" in out
        and "dollar" in out
        and not any(c in out for c in "¥₽₹€£$")
    )
