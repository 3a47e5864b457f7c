"""`quarry serve` logs: text for a person at a terminal, JSON for a pipe; loaders' chatter stays out at info."""

import io
import json
import logging

import pytest

from service.logging_setup import configure_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("faiss.loader", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_auto_format_is_text_on_a_terminal_and_json_elsewhere(restore_logging):
    terminal, pipe = Terminal(), io.StringIO()
    configure_logging("auto", "info", stream=terminal)
    logging.getLogger("quarry.api").info("hello person")
    configure_logging("auto", "info", stream=pipe)
    logging.getLogger("quarry.api").info("hello shipper")
    assert "INFO quarry.api" in terminal.getvalue() and "hello person" in terminal.getvalue()
    assert not terminal.getvalue().lstrip().startswith("{")
    assert json.loads(pipe.getvalue())["message"] == "hello shipper"
    configure_logging("json", "info", stream=terminal)  # asked for: JSON even on a terminal
    logging.getLogger("quarry.api").info("asked")
    assert json.loads(terminal.getvalue().splitlines()[-1])["message"] == "asked"


def test_third_party_loaders_are_quiet_at_info_but_not_at_debug(restore_logging):
    stream = io.StringIO()
    configure_logging("text", "info", stream=stream)
    logging.getLogger("faiss.loader").info("Loading faiss with AVX512 support.")
    logging.getLogger("sentence_transformers.base.model").info("Loading SentenceTransformer model from somewhere")
    logging.getLogger("faiss.loader").warning("faiss could not load at all")
    logging.getLogger("models.loading").info("loading embedder x on cpu")
    lines = stream.getvalue().splitlines()
    assert [line.split(" ", 3)[-1] for line in lines] == [
        "faiss.loader [] faiss could not load at all", "models.loading [] loading embedder x on cpu",
    ]  # fmt: skip
    configure_logging("text", "debug", stream=stream)
    logging.getLogger("faiss.loader").info("Loading faiss.")
    assert stream.getvalue().splitlines()[-1].endswith("Loading faiss.")
