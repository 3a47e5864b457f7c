import pytest

from indexer.chunker import Chunker, ChunkerSettings, split_sections
from indexer.documents import Document


@pytest.fixture
def chunker(tiny_embedder):
    return Chunker(tiny_embedder.tokenizer, ChunkerSettings(chunk_size=20, overlap=4))


def _tokens(chunker, text):
    return len(chunker.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_offsets_point_into_the_document(chunker):
    text = "\n\n".join(f"Paragraph {i} talks about the bread and the planet." for i in range(8))
    doc = Document("d", text)
    chunks = chunker.chunk(doc)
    assert len(chunks) > 1
    for i, chunk in enumerate(chunks):
        assert chunk.ordinal == i
        assert text[chunk.start : chunk.end] == chunk.text
        assert _tokens(chunker, chunk.text) <= 20


def test_short_paragraphs_are_packed_and_not_split(chunker):
    text = "Apple banana.\n\nCherry red.\n\nGreen blue."
    [chunk] = chunker.chunk(Document("d", text))
    assert chunk.text == text and (chunk.start, chunk.end) == (0, len(text))


def test_cuts_prefer_paragraph_breaks(chunker):
    first = "the bread " * 6  # 12 tokens
    second = "the planet " * 6
    text = first.strip() + "\n\n" + second.strip() + "\n\n" + first.strip()
    chunks = chunker.chunk(Document("d", text))
    assert all("\n\n" not in c.text for c in chunks)  # 24 tokens do not fit: each paragraph alone
    assert [c.text for c in chunks] == [first.strip(), second.strip(), first.strip()]


def test_long_paragraph_is_cut_with_overlap(chunker):
    text = " ".join(f"word{i}" for i in range(60))  # one paragraph, many tokens
    chunks = chunker.chunk(Document("d", text))
    assert len(chunks) >= 3
    for before, after in zip(chunks, chunks[1:]):
        assert after.start < before.end, "chunks cut inside a paragraph must overlap"
        assert text[after.start - 1] == " ", "a chunk starts on a word boundary"
    assert chunks[0].start == 0 and chunks[-1].end == len(text)


def test_markdown_headings_give_heading_paths(chunker):
    text = "# Guide\n\nIntro.\n\n## Install\n\nRun it.\n\n### Linux\n\nUse apt.\n\n## Usage\n\nSearch."
    chunks = chunker.chunk(Document("d", text, format="markdown"))
    paths = {c.text: c.heading_path for c in chunks}
    assert paths == {
        "Intro.": ["Guide"],
        "Run it.": ["Guide", "Install"],
        "Use apt.": ["Guide", "Install", "Linux"],
        "Search.": ["Guide", "Usage"],
    }
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_plain_text_ignores_hash_lines():
    assert len(split_sections("# not a heading\n\ntext", markdown=False)) == 1


def test_headings_only_document_still_gives_a_chunk(chunker):
    [chunk] = chunker.chunk(Document("d", "# Only a title", format="markdown"))
    assert chunk.text == "# Only a title"


def test_embedding_text_adds_title_and_headings_once():
    from indexer.documents import Chunk

    chunk = Chunk("d", 0, "Run it.", 0, 7, ["Guide", "Install"])
    assert chunk.embedding_text("Guide") == "Guide > Install\nRun it."
    assert Chunk("d", 0, "x", 0, 1, []).embedding_text("") == "x"


def test_settings_are_validated():
    with pytest.raises(ValueError, match="exceeds"):
        ChunkerSettings(chunk_size=300).validate(max_seq_length=256)
    with pytest.raises(ValueError, match="overlap"):
        ChunkerSettings(chunk_size=100, overlap=60).validate()
    with pytest.raises(ValueError, match="too small"):
        ChunkerSettings(chunk_size=4, overlap=0).validate()


def test_chunk_many_matches_one_document_at_a_time(chunker):
    docs = [
        Document("short", "A short passage about bread."),
        Document("long", " ".join(f"Sentence {i} is about the planet and the bread." for i in range(30))),
        Document("md", "# Title\n\nIntro words here.\n\n## Part\n\n" + "more words " * 40, format="markdown"),
        Document("blank", "   \n\n  "),
        Document("headings", "# Only\n## Headings", format="markdown"),
    ]
    batched = chunker.chunk_many(docs)
    assert batched == [chunker.chunk(doc) for doc in docs]
    assert [len(chunks) for chunks in batched][:3] == [1, len(batched[1]), len(batched[2])] and len(batched[1]) > 1
    assert batched[3] == []


def test_chunker_sees_whole_texts_after_the_tokenizer_was_used_truncating(chunker):
    # the transformers wrapper leaves its Rust backend truncating after a call like the embedder's
    chunker.tokenizer(["x " * 500], truncation=True, max_length=8)
    text = " ".join(f"word{i}" for i in range(300))
    chunks = chunker.chunk(Document("d", text))
    assert chunks[-1].end == len(text) and chunks[-1].text.endswith("word299")


def test_chunkers_of_one_tokenizer_share_one_rust_copy(tiny_embedder):
    # the API builds a Chunker per upsert request; copying the tokenizer each time cost ~25 ms
    first, second = Chunker(tiny_embedder.tokenizer), Chunker(tiny_embedder.tokenizer)
    assert first._rust is not None and first._rust is second._rust
