"""E-mail: .eml (one message) and .mbox (many). Headers become metadata; the body is the text part (or the
HTML part as text); attachments go through the same loaders as files and become documents of their own."""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import tempfile
from collections.abc import Callable
from email.message import EmailMessage

from indexer.documents import Document
from indexer.errors import LoadError
from indexer.formats.base import Loaded, Source, join_blocks

HEADERS = ("from", "to", "cc", "subject", "date", "message-id")


def _headers(message: EmailMessage, warnings: list[str], name: str) -> dict:
    out = {}
    for key in HEADERS:
        try:
            value = message.get(key)
        except Exception as exc:  # a malformed header raises from the parser's lazy decoding
            warnings.append(f"{name}: unreadable {key} header ({exc}), left out")
            continue
        if value:
            out[key.replace("-", "_")] = " ".join(str(value).split())
    return out


def message_documents(message: EmailMessage, source: Source, load_attachment) -> Loaded:
    """One document for the message body, and one per attachment a loader can read."""
    from indexer.formats.text import html_to_markdown_text

    warnings: list[str] = []
    headers = _headers(message, warnings, source.name)
    plain: list[str] = []
    html: list[str] = []
    documents: list[Document] = []
    for number, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        filename = part.get_filename()
        disposition = part.get_content_disposition()
        try:
            if filename or disposition == "attachment":
                data = part.get_payload(decode=True) or b""
                child = Source(f"{source.name}#{filename or f'part{number}'}", f"{source.doc_id}#{filename or f'part{number}'}", data)
                try:
                    loaded = load_attachment(child)
                except LoadError as exc:
                    warnings.append(str(exc) if str(exc).endswith("skipped") else f"{exc}; attachment skipped")
                    continue
                for doc in loaded.documents:
                    doc.metadata = {**doc.metadata, **{f"email_{k}": v for k, v in headers.items()}, "attachment": filename or ""}
                documents.extend(loaded.documents)
                warnings.extend(loaded.warnings)
            elif part.get_content_type() == "text/plain":
                plain.append(part.get_content())
            elif part.get_content_type() == "text/html":
                html.append(html_to_markdown_text(part.get_content())[1])
        except (LookupError, ValueError, TypeError, AssertionError, UnicodeError) as exc:
            warnings.append(f"{source.name}: MIME part {number} ({part.get_content_type()}) is broken ({exc}), skipped")
    for defect in message.defects:
        warnings.append(f"{source.name}: {type(defect).__name__}: {defect}")
    body = join_blocks(plain or html)
    header_block = "\n".join(f"{k.replace('_', '-').title()}: {v}" for k, v in headers.items() if k in ("from", "to", "date"))
    text = join_blocks([header_block, body]) if body.strip() else ""
    if text:
        title = headers.get("subject", "") or source.title_from_name()
        documents.insert(0, Document(source.doc_id, text, title, source.name, {"format": "email", **headers}))
    if not documents:
        raise LoadError(f"{source.name}: e-mail with no readable text part or attachment")
    return Loaded(documents, warnings)


def load_eml(source: Source, load_source: Callable[[Source], Loaded]) -> Loaded:
    message = email.message_from_bytes(source.data, policy=email.policy.default)
    if not message.keys():
        raise LoadError(f"{source.name}: not an e-mail message (no headers)")
    loaded = message_documents(message, source, load_source)
    for doc in loaded.documents:  # attachments too: the file on disk is what delete and prune go by
        doc.source = source.name
    return loaded


def load_mbox(source: Source, load_source: Callable[[Source], Loaded]) -> Loaded:
    """Each message is its own document, with the mailbox's id and the message's number: box.mbox#3."""
    with tempfile.TemporaryDirectory(prefix="quarry-mbox-") as tmp:  # mailbox reads only from a path
        path = os.path.join(tmp, "box.mbox")
        with open(path, "wb") as f:
            f.write(source.data)
        box = mailbox.mbox(path, factory=lambda f: email.message_from_binary_file(f, policy=email.policy.default), create=False)
        documents: list[Document] = []
        warnings: list[str] = []
        for number, message in enumerate(box, start=1):
            child = Source(f"{source.name}#{number}", f"{source.doc_id}#{number}", b"")
            try:
                loaded = message_documents(message, child, load_source)
            except LoadError as exc:
                warnings.append(str(exc))
                continue
            for doc in loaded.documents:
                doc.source = source.name
            documents += loaded.documents
            warnings += loaded.warnings
        box.close()
    if not documents:
        raise LoadError(f"{source.name}: no readable messages in this mailbox")
    return Loaded(documents, warnings)
