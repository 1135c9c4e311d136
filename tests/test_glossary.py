"""One glossary (docs/glossary.md) for the screens and the playbooks: the variants it says to avoid
appear in no Indonesian text of a playbook and in no msgstr of the Indonesian catalog."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "docs" / "glossary.md"
CATALOG = ROOT / "crisis" / "translations" / "id" / "LC_MESSAGES" / "messages.po"
SOPS = sorted((ROOT / "sops").glob("*.yaml"))
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%|\{[a-z_]+\}")


def glossary() -> dict[str, tuple[str, ...]]:
    """Indonesian term → the variants to avoid, from the glossary's tables (backticked in the last
    column)."""
    terms: dict[str, tuple[str, ...]] = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in {"Istilah (id)", ""} or set(cells[0]) <= {"-"}:
            continue
        terms[cells[0]] = tuple(re.findall(r"`([^`]+)`", cells[3]))
    return terms


def matcher(variant: str) -> re.Pattern[str]:
    """A variant as a whole word (or phrase), any case: `demo` is not found in `demokrasi`, `Kominfo`
    not in `Diskominfo`."""
    return re.compile(r"(?<![\w-])" + re.escape(variant) + r"(?![\w-])", re.IGNORECASE)


def indonesian_playbook_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every `id:` text of a playbook, folded blocks included, English not."""
    inside = None  # the indentation of the `id:` key whose text is being read
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        indent = len(line) - len(line.lstrip())
        if inside is not None and line.strip() and indent <= inside:
            inside = None
        match = re.match(r"^(\s*)id:\s*(.*)$", line)
        if match and not line.strip().startswith("- "):
            inside = len(match.group(1))
            yield number, match.group(2)
        elif inside is not None:
            yield number, line
    return


def catalog_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every msgstr line of a .po file, continuation lines included, without
    the %(name)s placeholders (they are code, e.g. %(hoax)s)."""
    in_msgstr = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("msgstr"):
            in_msgstr = True
        elif not line.startswith('"'):
            in_msgstr = False
        if in_msgstr:
            yield number, PLACEHOLDER.sub(" ", line)


def hits(lines: Iterator[tuple[int, str]], terms: dict[str, tuple[str, ...]]) -> list[tuple[int, str, str]]:
    """(line number, variant found, the term to write instead)."""
    return [
        (number, variant, term)
        for number, text in lines
        for term, variants in terms.items()
        for variant in variants
        if matcher(variant).search(text)
    ]


def report(path: Path, found: list[tuple[int, str, str]]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{number}: '{variant}' — write '{term}'" for number, variant, term in found]


def test_the_glossary_has_the_terms_practitioners_use() -> None:
    terms = glossary()
    for term in (
        "pascakrisis",
        "pernyataan awal",
        "pimpinan instansi",
        "pengecualian",
        "narasi tunggal",
        "juru bicara",
        "tim komunikasi krisis",
        "klarifikasi",
        "hoaks",
        "disinformasi",
        "Komdigi",
        "Badan Komunikasi Pemerintah (BKP)",
    ):
        assert term in terms, term
    assert "dikecualikan" in terms["pengecualian"] and "pernyataan sementara" in terms["pernyataan awal"]
    assert len(terms) >= 40


def test_no_playbook_uses_a_variant_the_glossary_avoids() -> None:
    terms = glossary()
    found = [line for path in SOPS for line in report(path, hits(indonesian_playbook_lines(path), terms))]
    assert found == [], "\n".join(found)


def test_the_indonesian_screens_use_no_variant_the_glossary_avoids() -> None:
    found = report(CATALOG, hits(catalog_lines(CATALOG), glossary()))
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('  id: "Butir dikecualikan"\n  en: "Item waived, dikecualikan"\n', [(3, "dikecualikan")]),
        ("  id: >-\n    Terbitkan pernyataan\n    awal, bukan Pernyataan Sementara.\n", [(5, "pernyataan sementara")]),
        ('  en: "the holding statement"\n  id: "Diskominfo dan demokrasi"\n', []),
    ],
)
def test_the_scan_finds_a_variant_in_indonesian_text_only(
    tmp_path: Path, text: str, expected: list[tuple[int, str]]
) -> None:
    path = tmp_path / "probe.yaml"
    path.write_text("key: probe\ntitle:\n" + text, encoding="utf-8")
    found = hits(indonesian_playbook_lines(path), glossary())
    assert [(number, variant) for number, variant, _term in found] == expected


def test_the_catalog_scan_reads_continuation_lines_and_skips_placeholders(tmp_path: Path) -> None:
    po = tmp_path / "messages.po"
    po.write_text(
        'msgid "Waived"\nmsgstr ""\n"Butir "\n"dikecualikan"\n\nmsgid "dikecualikan"\nmsgstr "%(hoax)s orang"\n',
        encoding="utf-8",
    )
    assert hits(catalog_lines(po), glossary()) == [(4, "dikecualikan", "pengecualian")]
