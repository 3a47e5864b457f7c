"""Fuzz every API operation from its OpenAPI schema with schemathesis, in process (no socket).

Checks: no 5xx, every status code declared, every response body and header matching the schema.
Each operation runs twice: with generated path parameters (mostly unknown collections) and with the
collection fixed to a real one, so the generated bodies reach the search and indexing code.

    python -m benchmarks.fuzz --max-examples 100            # tiny models built on the fly
    python -m benchmarks.fuzz --max-examples 100 --negative # also invalid inputs (must be 4xx, never 5xx)

tests/service/test_fuzz.py runs the same function at a small bound in CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

FIXED = "kb"  # the collection used for the fixed-path pass


@dataclass
class OperationReport:
    label: str
    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


@dataclass
class FuzzReport:
    operations: list[OperationReport]
    seconds: float

    @property
    def requests(self) -> int:
        return sum(op.examples for op in self.operations)

    @property
    def failures(self) -> list[str]:
        return [f"{op.label}: {failure}" for op in self.operations for failure in op.failures]

    def summary(self) -> str:
        lines = [f"{op.label:<60} {op.examples:>5} requests  {dict(sorted(op.statuses.items()))}" for op in self.operations]
        lines.append(
            f"{len(self.operations)} operation runs, {self.requests} requests, {len(self.failures)} failures, "
            f"{self.seconds:.1f} s"
        )
        return "\n".join(lines + self.failures[:20])


def _ensure_fixed_collection(client, headers: dict) -> None:
    if client.get(f"/v1/collections/{FIXED}", headers=headers).status_code == 404:
        client.post("/v1/collections", json={"name": FIXED}, headers=headers)
    client.put(
        f"/v1/collections/{FIXED}/documents/guide.md",
        json={"text": "# Bikes\n\nFix a flat tire by patching the tube.", "metadata": {"lang": "en", "year": 2021}},
        headers=headers,
    )


def _example_runner(strategy, report: OperationReport, headers: dict, checks: list, max_examples: int, seed: int):
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    @hypothesis_seed(seed)
    @settings(
        max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are recorded, not minimised
    )  # fmt: skip
    @given(case=strategy)
    def fuzz_one(case):
        report.examples += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # noqa: BLE001 - the in-process transport re-raises what made a 500
            report.statuses[500] = report.statuses.get(500, 0) + 1
            if len(report.failures) < 5:
                report.failures.append(f"500: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}")
            return
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except Exception as exc:  # noqa: BLE001 - a check failed: record it and keep going
            if len(report.failures) < 5:
                first = str(exc).strip().splitlines()[:6]
                report.failures.append(f"{response.status_code}: " + " | ".join(first))

    return fuzz_one


def run_fuzz(app, headers: dict, max_examples: int = 5, seed: int = 0, negative: bool = False) -> FuzzReport:
    """Run schemathesis against `app` (a FastAPI app, not started); returns counts and failure messages."""
    import schemathesis
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.python import asgi
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_headers_conformance, response_schema_conformance]  # fmt: skip
    started = time.perf_counter()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    reports = []
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if negative else [])
    try:
        with asgi.get_client(app) as client:
            for result in schema.get_all_operations():
                operation = result.ok()
                has_name = "{name}" in operation.path
                destroys_fixed = has_name and operation.method.upper() == "DELETE" and operation.path.endswith("{name}")
                passes = [None] + ([{"name": FIXED}] if has_name and not destroys_fixed else [])
                for mode in modes:
                    for path_parameters in passes:
                        label = f"{operation.method.upper()} {operation.path} [{mode.value}{', ' + FIXED if path_parameters else ''}]"
                        report = OperationReport(label)
                        _ensure_fixed_collection(client, headers)
                        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

                        try:
                            _example_runner(strategy, report, headers, checks, max_examples, seed)()
                        except Unsatisfiable:
                            if mode is GenerationMode.POSITIVE:
                                raise
                            continue  # nothing in this operation can be made invalid (no parameters, no body)
                        reports.append(report)
    finally:
        asgi.shutdown_lifespans()  # closes the app's collections
    return FuzzReport(reports, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=100, help="generated examples per operation and pass")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--negative", action="store_true", help="also send schema-violating requests")
    parser.add_argument("--embedder", help="embedder to use (default: a tiny model built now)")
    args = parser.parse_args(argv)

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from service.api import create_app
    from service.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="quarry-fuzz-") as tmp:
        from tests.tiny_models import build_tiny_cross_encoder, build_tiny_embedder

        embedder = args.embedder or str(build_tiny_embedder(Path(tmp)))
        reranker = str(build_tiny_cross_encoder(Path(tmp)))  # so /v1/rerank and reranked searches are fuzzed too
        key = "fuzz-admin-key-0123456789"
        settings = load_settings(
            data_dir=Path(tmp) / "data", embedder=embedder, reranker=reranker, device="cpu", chunk_size=64,
            chunk_overlap=8, api_keys=[{"key": key, "scope": "admin"}],
        )  # fmt: skip
        report = run_fuzz(create_app(settings), {"Authorization": f"Bearer {key}"}, args.max_examples, args.seed, args.negative)
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
