"""Languages recorded at index time, and lexical search inside Chinese, Japanese and Thai text."""

import sqlite3

import pytest

from indexer.documents import Document
from indexer.integrity import check_collection, repair_collection
from indexer.languages import detect_language, scripts, shares
from indexer.segment import index_text, query_terms
from indexer.store import Store, fts_query
from models.languages import embedder_languages, readable_scripts
from models.prefixes import known_prefixes
from service.runtime import Runtime
from service.settings import Settings

GERMAN = "Der Befehl zeigt den Inhalt eines Verzeichnisses an und sortiert die Einträge alphabetisch, wenn keine Option angegeben ist."
FRENCH = "Cette commande affiche le contenu des répertoires et trie les entrées par ordre alphabétique lorsque aucune option n'est donnée."
CHINESE = {
    "ls": "列出指定文件的信息，默认为当前目录。如果没有指定排序选项，则按字母顺序排列项目。",
    "cp": "将源文件复制到目标文件，或者将多个源文件复制到目标目录中。",
    "rm": "删除每个指定的文件。默认情况下，它不会删除目录，除非使用递归选项。",
}
JAPANESE = {
    "ls": "現在のディレクトリに関する情報を一覧表示します。要素はアルファベット順でソートされます。",
    "cp": "ファイルをコピー先にコピーする、または複数のファイルをディレクトリにコピーします。",
}
THAI = {
    "tea": "ชาเขียวควรชงด้วยน้ำร้อนที่ไม่เดือดจัด",
    "bike": "ยางจักรยานรั่วต้องปะด้วยแผ่นปะยาง",
}


def test_detects_languages_of_real_text():
    assert detect_language(GERMAN) == "de"
    assert detect_language(FRENCH) == "fr"
    assert detect_language(CHINESE["ls"]) == "zh"
    assert detect_language(JAPANESE["ls"]) == "ja"
    assert detect_language("x = 1; y = 2") is None  # too few letters to tell
    assert shares({"en": 3, "de": 1}) == {"en": 0.75, "de": 0.25}
    assert scripts("ls 列出") == {"Latin": 2, "Han": 2}


def test_embedder_languages_and_prefixes_from_model_names():
    assert embedder_languages("sentence-transformers/all-MiniLM-L6-v2") == {"en"}
    assert embedder_languages("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2") == {"*"}
    assert embedder_languages("/models/my-own") is None
    assert embedder_languages("/models/my-own", override="de, fr") == {"de", "fr"}
    assert readable_scripts(frozenset({"en"})) == {"Latin"} and readable_scripts(frozenset({"*"})) is None
    assert known_prefixes("intfloat/e5-base-v2") == ("query: ", "passage: ")
    assert known_prefixes("nomic-ai/nomic-embed-text-v1.5") == ("search_query: ", "search_document: ")
    assert known_prefixes("BAAI/bge-small-en-v1.5")[0].startswith("Represent this sentence")
    assert known_prefixes("sentence-transformers/all-MiniLM-L6-v2") == ("", "")


def test_segmenting_spells_out_unspaced_runs_only():
    assert index_text("plain words stay") == "plain words stay"
    assert index_text("ls 列出目录").split() == ["ls", "列", "出", "目", "录"]
    assert query_terms("列出目录 ls") == ["列 出", "出 目", "目 录", "ls"]
    assert query_terms("目") == ["目"]
    assert fts_query("列出", segmented=True) == '"列 出"'
    assert fts_query("列出", segmented=False) == '"列出"'  # a store made before segmentation is queried as before


@pytest.fixture
def runtime(tmp_path, tiny_embedder_path):
    runtime = Runtime(Settings(data_dir=tmp_path, embedder=tiny_embedder_path, reranker="none", device="cpu", chunk_size=64, chunk_overlap=8))
    yield runtime
    runtime.close()


def lexical_docs(collection, query):
    hits = collection.lexical_search(query, 10)
    chunks = collection.store.chunks_by_id([c for c, _ in hits])
    return [chunks[c].doc_id for c, _ in hits]


def test_lexical_search_finds_words_inside_chinese_japanese_and_thai_runs(runtime):
    collection = runtime.create_collection("cjk")
    docs = {**{f"zh-{k}": v for k, v in CHINESE.items()}, **{f"ja-{k}": v for k, v in JAPANESE.items()}, **{f"th-{k}": v for k, v in THAI.items()}}
    runtime.indexer(collection).upsert([Document(k, v) for k, v in docs.items()])
    assert lexical_docs(collection, "复制文件")[0] == "zh-cp"  # "copy file": a word pair inside a run
    assert lexical_docs(collection, "删除目录")[0] == "zh-rm"
    assert lexical_docs(collection, "ディレクトリをコピー")[0] == "ja-cp"
    assert lexical_docs(collection, "ยางจักรยาน")[0] == "th-bike"
    assert check_collection(collection.directory).healthy
    languages = collection.languages()
    assert set(languages) >= {"zh", "ja"} and collection.manifest.languages == languages


def test_a_store_made_before_segmentation_keeps_working_and_repair_upgrades_it(runtime):
    collection = runtime.create_collection("old")
    runtime.indexer(collection).upsert([Document(k, v) for k, v in CHINESE.items()])
    directory = collection.directory
    runtime.catalog.close()
    conn = sqlite3.connect(directory / "quarry.sqlite")  # what an older quarry wrote: unsegmented rows, no marker
    conn.execute("DELETE FROM meta WHERE key='fts_segmenter'")
    conn.execute("DELETE FROM chunks_fts")
    conn.execute("INSERT INTO chunks_fts (rowid, text, title) SELECT c.chunk_id, c.text, d.title FROM chunks c JOIN documents d USING (doc_id)")
    conn.execute("DROP TABLE doc_languages")
    conn.commit()
    conn.close()
    store = Store(str(directory / "quarry.sqlite"))
    assert not store.segmented and store.lexical_search("复制", 5) == []  # as before: runs are whole words
    assert store.lexical_search(CHINESE["cp"].split("，")[0], 5)  # an exact run still matches
    store.close()
    report = check_collection(directory)
    assert report.healthy and any("repair" in w.message for w in report.warnings)
    assert any("full-text" in action for action in repair_collection(directory))
    reopened = runtime.open_collection("old")
    assert reopened.store.segmented and lexical_docs(reopened, "复制文件")[0] == "cp"
    assert next(iter(reopened.languages())) == "zh"  # estimated from a sample: no language rows were kept


def test_languages_follow_replacements_and_deletes(runtime):
    collection = runtime.create_collection("mixed")
    indexer = runtime.indexer(collection)
    indexer.upsert([Document("de", GERMAN), Document("fr", FRENCH)])
    assert set(collection.languages()) == {"de", "fr"}
    indexer.upsert([Document("de", FRENCH.replace("Cette", "Une"))])
    collection.delete(["fr"])
    assert collection.languages() == {"fr": 1.0} and collection.manifest.languages == {"fr": 1.0}
