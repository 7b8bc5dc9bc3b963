"""Text out of mail: the charsets real Chinese mail uses (gb2312 and gbk labels read as their
superset GB18030, Big5 as Microsoft's cp950 or HKSCS), RFC 2047 encoded words, and HTML turned
into readable plain text with the standard library's html.parser. Nothing here raises on any
input: undecodable bytes become U+FFFD."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from email.message import Message
from html.parser import HTMLParser

_GB = {"gb2312", "gbk", "x-gbk", "cp936", "ms936", "windows-936", "gb_2312", "gb_2312-80",
       "csgb2312", "euc-cn", "x-euc-cn", "euccn", "chinese", "iso-ir-58", "gb18030"}  # fmt: skip
_BIG5 = {"big5", "x-big5", "cn-big5", "csbig5", "big5-tw", "cp950", "x-x-big5", "big-5"}
_LATIN = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "cp819", "windows-1252"}
_UNDECLARED = {"", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "default", "8bit"}
GUESSES = ("utf-8", "gb18030", "cp950")  # for undeclared or wrongly declared 8-bit text
_REFUSED = ("escape", "undefined", "idna", "punycode", "uu_codec", "base64", "hex", "zlib", "bz2")


def codecs_for(label: str | None) -> list[str]:
    """The decoders to try, in order, for a declared charset label."""
    name = (label or "").strip().strip("\"'").lower()
    if name in _GB:
        return ["gb18030"]
    if name in _BIG5 or name.startswith("big5-hkscs") or name == "big5hkscs":
        return ["cp950", "big5hkscs"]
    if name in _LATIN:
        return ["cp1252", "latin-1"]
    if name in _UNDECLARED:
        return list(GUESSES)
    try:
        found = codecs.lookup(name)
    except (LookupError, ValueError):
        return list(GUESSES)
    if not getattr(found, "_is_text_encoding", True) or any(r in found.name for r in _REFUSED):
        return list(GUESSES)
    return [found.name]


def decode_bytes(data: bytes, label: str | None = None) -> str:
    """`data` as text: the declared charset if it decodes cleanly, else the usual guesses, else
    the declared charset with replacement characters."""
    if data.isascii():
        return data.decode("ascii")
    tried = codecs_for(label)
    for codec in [*tried, *(g for g in GUESSES if g not in tried)]:
        try:
            return _valid(data.decode(codec))
        except (UnicodeError, LookupError, ValueError):
            continue
    try:
        return _valid(data.decode(tried[0], errors="replace"))
    except (UnicodeError, LookupError, ValueError):
        return data.decode("utf-8", errors="replace")


def _valid(text: str) -> str:
    """`text` without lone surrogates (some codecs, utf-7 for one, decode them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def clean(value: str) -> str:
    """A raw header value or envelope address as valid text: 8-bit bytes that a BytesParser kept
    as surrogates are decoded (charset guessed). Nothing else from a raw mail may be stored."""
    return decode_bytes(raw_header_bytes(value))


# -- RFC 2047 encoded words -----------------------------------------------------------------------
_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_QHEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def _word_bytes(encoding: str, text: str) -> bytes:
    data = text.encode("ascii", errors="ignore")
    if encoding in "bB":
        data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
        try:
            return base64.b64decode(data + b"=" * (-len(data) % 4))
        except (binascii.Error, ValueError):
            return b""
    return _QHEX.sub(lambda m: bytes([int(m[1], 16)]), data.replace(b"_", b" "))


def raw_header_bytes(value: str) -> bytes:
    """A header value as the bytes that came in (a BytesParser keeps 8-bit bytes as surrogates)."""
    try:
        return value.encode("utf-8", errors="surrogateescape")
    except UnicodeError:
        return value.encode("utf-8", errors="replace")


def decode_header(value: str) -> str:
    """A raw header value as text: 8-bit bytes guessed, encoded words decoded (adjacent words in
    the same charset are joined before decoding, since mailers split characters across them),
    folding undone."""
    text = clean(value)
    text = re.sub(r"\r?\n(?=[ \t])", "", text).replace("\r", "").replace("\n", " ")
    out: list[str] = []
    run: tuple[str, bytearray] | None = None  # charset, bytes of adjacent encoded words
    end = 0
    for m in _WORD.finditer(text):
        gap = text[end : m.start()]
        charset = m[1].split("*", 1)[0].lower()
        adjacent = run is not None and not gap.strip()  # the space between two words is dropped
        if run is not None and not (adjacent and run[0] == charset):
            out.append(decode_bytes(bytes(run[1]), run[0]))
            run = None
        if not adjacent:
            out.append(gap)
        if run is None:
            run = (charset, bytearray())
        run[1].extend(_word_bytes(m[2], m[3]))
        end = m.end()
    if run is not None:
        out.append(decode_bytes(bytes(run[1]), run[0]))
    out.append(text[end:])
    return "".join(out)


def filename_of(part: Message) -> str | None:
    """An attachment's name: RFC 2231 parameters in their charset, encoded words decoded (which
    is not allowed in a parameter, and what most mailers send), any path dropped."""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        value = part.get_param(param, None, header)
        if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded as latin-1)
            charset, _, text = value
            name = decode_bytes(str(text).encode("latin-1", errors="replace"), charset)
        elif isinstance(value, str):
            name = decode_header(value)
        else:
            continue
        if name := one_line(re.split(r"[/\\]", name)[-1], 255):
            return name
    return None


def one_line(text: str, limit: int = 1000) -> str:
    """Whitespace and control characters collapsed to single spaces, at most `limit` chars."""
    return re.sub(r"[\s\x00-\x1f\x7f]+", " ", text).strip()[:limit]


# -- HTML to text -------------------------------------------------------------------------------
_SKIP = {"script", "style", "title", "template", "noscript", "svg", "object"}
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol", "pre",
              "dl", "figure", "hr", "address", "center", "form", "fieldset"}  # fmt: skip
_LINE = {"div", "tr", "li", "dt", "dd", "section", "article", "header", "footer", "main", "nav",
         "aside", "figcaption", "caption", "body", "html", "br"}  # fmt: skip
_MAX_HTML_CHARS = 4_000_000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.newlines = 1  # line breaks at the end of `out` (the start counts as a line start)
        self.skip = 0
        self.pre = 0
        self.links: list[tuple[str, int]] = []  # href, where its text starts in `out`

    def _emit(self, text: str) -> None:
        if not self.pre and (self.newlines or (self.out and self.out[-1].endswith(" "))):
            text = text.lstrip(" ")
        if not text:
            return
        self.out.append(text)
        stripped = text.rstrip(" \n")
        ends = text[len(stripped) :].count("\n")
        self.newlines = ends if stripped else self.newlines + ends

    def _break(self, n: int) -> None:
        self._emit("\n" * max(0, n - self.newlines))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in _SKIP:
            self.skip += 1
        elif tag == "pre":
            self.pre += 1
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE:
            self._break(1)
        if self.skip:
            return
        if tag == "li":
            self._emit("- ")
        elif tag in ("td", "th"):
            self._emit(" ")
        elif tag == "img" and a.get("alt", "").strip():
            self._emit(f"[{one_line(a['alt'], 200)}]")
        elif tag == "a":
            self.links.append((a.get("href", "").strip(), len(self.out)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "img", "hr"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _LINE and tag != "br":
            self._break(1)
        elif tag in ("td", "th"):
            self._emit(" ")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            shown = one_line("".join(self.out[start:]))
            target = href.removeprefix("mailto:")
            if href and not href.startswith(("#", "javascript:")) and target != shown:
                self._emit(f" ({href})" if shown else href)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            text = data.replace("\xa0", " ")
            self._emit(text if self.pre else re.sub(r"[ \t\r\n\f\v]+", " ", text))


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail body: paragraphs and line breaks kept, scripts and styles
    dropped, links written `text (url)`."""
    parser = _Text()
    try:
        parser.feed(html[:_MAX_HTML_CHARS])
        parser.close()
        while parser.links:  # links left open still show where they lead
            parser.handle_endtag("a")
    except Exception:  # html.parser is lenient, but a mail body must never stop intake
        parser.out = [re.sub(r"<[^>]*>", " ", html[:_MAX_HTML_CHARS])]
    return tidy("".join(parser.out))


def tidy(text: str) -> str:
    """Line ends normalized; control characters, trailing spaces and runs of blank lines
    removed."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    joined = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip("\n")
