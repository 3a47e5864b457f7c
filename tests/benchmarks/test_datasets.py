"""The judged-set builder on a hand-written manual page, and the all-sets quality table (no network, no model)."""

import gzip
import json

from benchmarks.datasets import Page, clip, man_page, roff_sections, write_beir
from benchmarks.quality_table import read_runs, table
from indexer.beir import load_beir

PAGE = r""".\" a comment line
.TH FROB 1 "2024" "frob 1.0" "User Commands"
.SH NAME
frob \- turn widgets into \fBgadgets\fP
.SH SYNOPSIS
.B frob
[\fIOPTION\fR]... \fIFILE\fR
.SH DESCRIPTION
.PP
Reads each widget from FILE and writes a gadget for it, keeping the widget's colour.
.TP
\fB\-q\fR, \fB\-\-quiet\fR
say nothing
.SH "SEE ALSO"
.BR widget (5)
"""


def test_roff_page_becomes_a_known_item(tmp_path):
    sections = roff_sections(PAGE)
    assert [h for h, _ in sections] == ["NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"]
    assert sections[0][1] == "frob - turn widgets into gadgets"
    assert "widget(5)" in sections[3][1] and "-q, --quiet" in sections[2][1]
    path = tmp_path / "frob.1.gz"
    path.write_bytes(gzip.compress((PAGE + "more words about widgets and gadgets. " * 8).encode()))
    page = man_page(path)
    assert (page.doc_id, page.title, page.query) == ("frob.1", "frob(1)", "turn widgets into gadgets")
    assert "NAME" not in page.text and "turn widgets into" not in page.text  # the query's line is not in the answer
    link = tmp_path / "gizmo.1.gz"
    link.write_bytes(gzip.compress(b".so man1/frob.1\n"))
    assert man_page(link) is None
    assert len(clip("列" * 400, 30)) == 10 and clip("abc", 30) == "abc"


def test_sets_are_beir_folders_with_unique_answers(tmp_path):
    pages = [Page(f"p{i}", f"p{i}", f"does thing number {i % 5}", "text " * 50) for i in range(20)]
    pages.append(Page("dup", "dup", "does thing number 0", "text " * 50))  # shares a description: never a query
    counts = write_beir(pages, tmp_path / "set", queries=10, max_documents=15)
    dataset = load_beir(tmp_path / "set")
    assert counts == {"documents": 15, "queries": len(dataset.queries)} and len(dataset.corpus) == 15
    answers = {doc for judged in dataset.qrels.values() for doc in judged}
    assert len(answers) == len(dataset.queries)
    by_id = {p.doc_id: p for p in pages}
    descriptions = [by_id[a].query for a in answers]
    assert all(sum(p.query == d for p in by_id.values() if p.doc_id in {c.doc_id for c in dataset.corpus}) == 1 for d in descriptions)


def test_quality_table_reads_eval_json(tmp_path):
    runs = {"runs": {"dense": {"ndcg@10": 0.5}, "lexical": {"ndcg@10": 0.7}, "hybrid": {"ndcg@10": 0.69}}}
    (tmp_path / "set-a.json").write_text(json.dumps(runs))
    (tmp_path / "broken.json").write_text("{")
    read = read_runs(tmp_path)
    assert read == {"set-a": {"dense": 0.5, "lexical": 0.7, "hybrid": 0.69}}
    assert "| set-a | 0.5000 | 0.7000 | 0.6000 | **0.6900** | -0.0100 |" in table(read, {"set-a": {"hybrid": 0.6}})


TRANSLATIONS = """Package: frobber
Description-md5: 0
Description-en: turn widgets into gadgets
 Reads each widget and writes a gadget for it, keeping its colour and its
 shape, much faster than doing it by hand.
 .
 Features:
  - colour kept
  - shape kept

Package: libfrob-dev
Description-md5: 1
Description-en: development files for the frob library
 This package contains the development files for the frob library, which
 turns widgets into gadgets and back again when asked to.

Package: gizmo
Description-md5: 2
Description-en: gizmo maker for widgets and gadgets
 Makes gizmos out of widgets and gadgets, in bulk, with a progress bar
 and a summary at the end of every run that says what it made.
"""
APPSTREAM = """---
File: DEP-11
---
Type: desktop-application
Package: frobber
Name:
  C: Frobber
Summary:
  C: Make gadgets from your widgets.
"""


def test_debian_sets_use_the_archive_descriptions(tmp_path):
    from benchmarks.datasets import debian_app_pages, debian_pages

    lists = tmp_path / "apt" / "lists"
    lists.mkdir(parents=True)
    (lists / "example_dists_main_i18n_Translation-en").write_text(TRANSLATIONS)
    (lists / "example_dists_main_dep11_Components-amd64.yml.gz").write_bytes(gzip.compress(APPSTREAM.encode()))
    pages = {p.doc_id: p for p in debian_pages(tmp_path)}
    assert list(pages) == ["frobber"]  # a library's boilerplate, and a synopsis naming its package, are left out
    page = pages["frobber"]
    assert (page.title, page.query) == ("frobber", "turn widgets into gadgets")
    assert page.text.startswith("Reads each widget and writes a gadget for it, keeping its colour and its shape,")
    assert "Features:\n- colour kept\n- shape kept" in page.text
    apps = debian_app_pages(tmp_path)
    assert [(p.doc_id, p.query) for p in apps] == [("frobber", "Make gadgets from your widgets")]
    assert apps[0].text == page.text  # the same corpus, another author's one-liner as the query
