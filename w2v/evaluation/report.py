"""Evaluation results as data (``eval.json``), as markdown (``eval.md``) and as one-line log summaries.

A *report* is a JSON-ready dict for one set of vectors; its ``metrics`` entry is the flat
``name -> number`` dict that training merges into ``metrics.json`` and TensorBoard (``eval/<name>``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from w2v.atomic import atomic_write_text
from w2v.evaluation.analogy import AnalogyResult, is_syntactic
from w2v.evaluation.neighbours import GloveComparison, format_side_by_side
from w2v.evaluation.similarity import SimilarityResult

METHOD_NAMES = {"3cosadd": "3CosAdd", "3cosmul": "3CosMul"}
# Metrics shown side by side when several vector sets are compared, in this order.
HEADLINE = ("analogy", "analogy_semantic", "analogy_syntactic", "analogy_3cosmul", "analogy_oov_pct")


def analogy_report(result: AnalogyResult, requested: int) -> dict[str, Any]:
    """The analogy part of a report: cutoff, question counts, accuracies and per-section counts."""
    return {
        "file": result.path,
        "restrict_vocab": result.restrict_vocab,
        "restrict_vocab_requested": requested,
        "questions": result.questions,
        "evaluated": result.questions - result.oov,
        "oov": result.oov,
        "oov_pct": result.oov_pct,
        "malformed_lines": result.malformed,
        "seconds": result.seconds,
        "accuracy": {m: {w: result.accuracy(m, w) for w in ("total", "semantic", "syntactic")} for m in result.methods},
        "sections": [{"name": s.name, "questions": s.questions, "evaluated": s.evaluated, "correct": s.correct} for s in result.sections],
    }


def similarity_report(result: SimilarityResult) -> dict[str, Any]:
    return {
        "file": result.path,
        "spearman": result.spearman,
        "pearson": result.pearson,
        "pairs": result.pairs,
        "oov": result.oov,
        "oov_pct": result.oov_pct,
        "malformed_lines": result.malformed,
    }


def glove_report(comparison: GloveComparison, path: str) -> dict[str, Any]:
    return {
        "file": path,
        "k": comparison.k,
        "shared_words": comparison.shared,
        "queries": comparison.queries,
        "overlap": comparison.overlap,
        "overlap_frequent": comparison.overlap_frequent,
        "sampled_words": comparison.sample,
        "cosine_spearman": comparison.cosine_spearman,
        "sampled_pairs": comparison.pairs,
        "neighbours": {"ours": comparison.ours, "glove": comparison.glove},
    }


def flat_metrics(report: dict[str, Any]) -> dict[str, float]:
    """``analogy`` (3CosAdd total), its parts, ``<benchmark>`` Spearman values and the GloVe metrics."""
    out: dict[str, float] = {}
    analogy = report.get("analogy")
    if analogy:
        acc = analogy["accuracy"]
        out["analogy"] = acc["3cosadd"]["total"]
        out["analogy_semantic"] = acc["3cosadd"]["semantic"]
        out["analogy_syntactic"] = acc["3cosadd"]["syntactic"]
        if "3cosmul" in acc:
            out["analogy_3cosmul"] = acc["3cosmul"]["total"]
        out["analogy_oov_pct"] = analogy["oov_pct"]
    for name, sim in report.get("similarity", {}).items():
        if sim["spearman"] is not None:
            out[name] = sim["spearman"]
        if sim["pearson"] is not None:
            out[f"{name}_pearson"] = sim["pearson"]
        out[f"{name}_oov_pct"] = sim["oov_pct"]
    glove = report.get("glove") or {}
    for key in ("overlap", "overlap_frequent", "cosine_spearman"):
        if glove.get(key) is not None:
            out[f"glove_{key}"] = glove[key]
    return out


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """One line per benchmark, e.g. ``wordsim353: spearman 0.652 (OOV 0.6%)``."""
    lines = []
    analogy = report.get("analogy")
    if analogy:
        acc = analogy["accuracy"]
        methods = ", ".join(f"{METHOD_NAMES[m]} {_num(acc[m]['total'])}" for m in acc)
        lines.append(
            f"analogy: {methods} on {analogy['evaluated']} questions "
            f"(semantic {_num(acc['3cosadd']['semantic'])}, syntactic {_num(acc['3cosadd']['syntactic'])}; "
            f"OOV {analogy['oov_pct']:.1f}%, restrict_vocab {analogy['restrict_vocab']})"
        )
    for name, sim in report.get("similarity", {}).items():
        lines.append(f"{name}: spearman {_num(sim['spearman'])} (OOV {sim['oov_pct']:.1f}%)")
    for name, why in report.get("skipped", {}).items():
        lines.append(f"{name}: skipped ({why})")
    glove = report.get("glove")
    if glove:
        lines.append(
            f"glove: overlap@{glove['k']} {_num(glove['overlap'])} on {len(glove['queries'])} query words, "
            f"{_num(glove['overlap_frequent'])} on {glove['sampled_words']} frequent words; "
            f"cosine spearman {_num(glove['cosine_spearman'])} over {glove['sampled_pairs']} pairs ({glove['shared_words']} shared words)"
        )
    return lines


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; numbers are shown with 4 significant digits, None as blank."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.4g}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(correct: int, total: int) -> str:
    return f"{100.0 * correct / total:.1f}% ({correct}/{total})" if total else "n/a (0)"


def _analogy_markdown(analogy: dict[str, Any]) -> list[str]:
    methods = list(analogy["accuracy"])
    cut = analogy["restrict_vocab"]
    requested = analogy["restrict_vocab_requested"]
    cutoff = f"restrict_vocab {requested}" + (f" (the whole vocabulary, {cut} words)" if cut < requested else "")
    out = [
        "## Analogies",
        "",
        f"`{Path(analogy['file']).name}`, {cutoff}, case-insensitive. {analogy['questions']} questions: "
        f"{analogy['evaluated']} evaluated, {analogy['oov']} skipped as out-of-vocabulary ({analogy['oov_pct']:.1f}%)"
        + (f", {analogy['malformed_lines']} malformed lines skipped." if analogy["malformed_lines"] else "."),
        "",
    ]
    groups = [("total", None), ("semantic", None), ("syntactic", None)] + [(s["name"], s) for s in analogy["sections"]]
    rows = []
    for name, section in groups:
        if section is None:
            picked = [s for s in analogy["sections"] if name == "total" or (name == "syntactic") == is_syntactic(s["name"])]
            correct = {m: sum(s["correct"][m] for s in picked) for m in methods}
            evaluated, questions = sum(s["evaluated"] for s in picked), sum(s["questions"] for s in picked)
            label = f"**{name}**"
        else:
            correct, evaluated, questions, label = section["correct"], section["evaluated"], section["questions"], name
        rows.append([label] + [_pct(correct[m], evaluated) for m in methods] + [questions])
    out.append(markdown_table(["section"] + [METHOD_NAMES[m] for m in methods] + ["questions"], rows))
    return out


def markdown(report: dict[str, Any], level: int = 1) -> str:
    """The human-readable report of one vector set (``eval.md``)."""
    h = "#" * level
    out = [f"{h} Evaluation of {report['name']}", "", f"`{report['source']}`: {report['words']} words x {report['dim']} dimensions.", ""]
    if report.get("analogy"):
        out += [line.replace("## ", f"{h}# ", 1) if line.startswith("## ") else line for line in _analogy_markdown(report["analogy"])]
        out.append("")
    sims = report.get("similarity", {})
    if sims or report.get("skipped"):
        out += [f"{h}# Word similarity", "", "Spearman and Pearson correlation of cosine similarity with human scores.", ""]
        rows = [[n, s["spearman"], s["pearson"], s["pairs"], f"{s['oov_pct']:.1f}%"] for n, s in sims.items()]
        rows += [[n, None, None, None, f"skipped: {why}"] for n, why in report.get("skipped", {}).items()]
        out += [markdown_table(["benchmark", "spearman", "pearson", "pairs", "OOV"], rows), ""]
    glove = report.get("glove")
    if glove:
        out += [
            f"{h}# Neighbours compared with GloVe",
            "",
            f"`{glove['file']}`; {glove['shared_words']} words in both vocabularies. Overlap@{glove['k']} is the mean share of "
            "common words in the two top-k neighbour lists, computed within the shared vocabulary.",
            "",
            markdown_table(
                ["metric", "value", "over"],
                [
                    [f"overlap@{glove['k']}, query words", glove["overlap"], f"{len(glove['queries'])} words"],
                    [f"overlap@{glove['k']}, frequent words", glove["overlap_frequent"], f"{glove['sampled_words']} sampled words"],
                    ["Spearman of pairwise cosines", glove["cosine_spearman"], f"{glove['sampled_pairs']} sampled pairs"],
                ],
            ),
            "",
            "Each model's own nearest neighbours (cosine):",
            "",
            "```",
            format_side_by_side(glove["neighbours"]["ours"], glove["neighbours"]["glove"], (report["name"], "glove")),
            "```",
            "",
        ]
    if report.get("projection"):
        out += [f"{h}# Projection", "", f"![projection]({report['projection']})", ""]
    return "\n".join(out)


def comparison_table(reports: Sequence[dict[str, Any]]) -> str:
    """Metrics of several vector sets side by side (rows: metrics, columns: sets)."""
    keys: list[str] = [k for k in HEADLINE if any(k in r["metrics"] for r in reports)]
    for r in reports:
        keys += [k for k in r["metrics"] if k not in keys]
    rows = [[k] + [r["metrics"].get(k) for r in reports] for k in keys]
    rows.append(["words"] + [r["words"] for r in reports])
    return markdown_table(["metric"] + [r["name"] for r in reports], rows)


def _clean(value: Any) -> Any:
    """NaN/inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_reports(out_dir: str | os.PathLike, reports: Sequence[dict[str, Any]]) -> tuple[Path, Path]:
    """``eval.json`` (one report, or ``{"reports": [...]}`` for several) and ``eval.md``, atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = reports[0] if len(reports) == 1 else {"reports": list(reports)}
    if len(reports) == 1:
        text = markdown(reports[0])
    else:
        names = ", ".join(r["name"] for r in reports)
        text = "\n".join([f"# Evaluation of {names}", "", comparison_table(reports), ""] + [markdown(r, level=2) for r in reports])
    json_path, md_path = out_dir / "eval.json", out_dir / "eval.md"
    atomic_write_text(json_path, json.dumps(_clean(data), indent=2) + "\n")
    atomic_write_text(md_path, text)
    return json_path, md_path
