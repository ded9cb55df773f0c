"""The scoreboard: every claim is read from the records, by rules that can say yes, partly or no.

``data/scoreboard_smoke_results.json`` holds the values the rules read, as the chapters glued
them in one smoke build (seed 0, CPU); the tests check the rules on them and on edits of them.
"""

import copy
import json
from pathlib import Path

import pytest

from advnb.book import scoreboard as S

RESULTS = json.loads((Path(__file__).parent / "data" / "scoreboard_smoke_results.json").read_text())
RECORDS = {c: {"results": r} for c, r in RESULTS.items()}


def _row(records, claim):
    board = S.board(records)
    return board.set_index("claim").loc[claim]


def test_every_claim_the_issue_lists_has_a_row():
    names = {c.claim for c in S.CLAIMS}
    wanted = {"Lemma 1", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "Table 1", "Table 2"}
    wanted |= {f"Theorem {i}" for i in range(1, 7)} | {f"Fig. {i}" for i in range(1, 6)}
    assert wanted <= names and len(names) == len(S.CLAIMS)
    assert {c.chapter for c in S.CLAIMS} <= set(S.CHAPTERS)


def test_board_fills_every_row_from_the_records():
    board = S.board(RECORDS)
    assert list(board.columns) == ["claim", "statement", "paper", "measured", "holds", "chapter", "rule"]
    assert len(board) == len(S.CLAIMS)
    assert board["measured"].str.len().gt(20).all()
    assert board["holds"].isin(["yes", "partly", "no"]).all()
    assert board["rule"].str.len().gt(20).all()  # each verdict says how it is decided
    # the numbers in "measured" are this build's: change one and the text follows
    edited = copy.deepcopy(RECORDS)
    edited["theorem2"]["results"]["table1_kappa_max"] = 0.123
    assert "0.12" in _row(edited, "Table 1")["measured"]


@pytest.mark.parametrize("claim,chapter,key,value,holds", [
    ("Table 1", "theorem2", "table1_kappa_max", 5e-4, "yes"),
    ("Table 1", "theorem2", "table1_kappa_max", 2e-3, "no"),
    ("Theorem 2", "theorem2", "kappa_max_beta", 5e-4, "yes"),   # small kappa over the whole grid
    ("Theorem 2", "theorem2", "kappa_max_beta", 0.5, "partly"),  # only at small beta
    ("Theorem 2", "theorem2", "kappa_min_beta", 0.5, "no"),
    ("C7", "theorem5", "n_norm_gt_vanilla", 10, "yes"),
    ("C7", "theorem5", "n_norm_gt_vanilla", 3, "partly"),
    ("C7", "theorem5", "n_hat_gt_norm", 7, "no"),
    ("C6", "theorem5", "rho_yz_pooled", -0.3, "yes"),
    ("C6", "theorem5", "rho_yz_pooled", 0.9, "partly"),
    ("Theorem 1", "theorem1", "slope_rho", -0.95, "yes"),
    ("Theorem 1", "theorem1", "slope_rho", 0.0, "partly"),
    ("Lemma 1", "lemma1", "softmax_min_eig", -1e-3, "no"),
])
def test_verdicts_follow_the_measurement(claim, chapter, key, value, holds):
    edited = copy.deepcopy(RECORDS)
    edited[chapter]["results"][key] = value
    assert _row(edited, claim)["holds"] == holds


def test_fig5_reads_the_per_network_table():
    edited = copy.deepcopy(RECORDS)
    for row in edited["theorem6"]["results"]["fig5_summary"]:
        row["adv > ori at η"] = row["layers"]
    assert _row(edited, "Fig. 5")["holds"] == "yes"
    for row in edited["theorem6"]["results"]["fig5_summary"]:
        row["adv > ori at η"] = 0
    assert _row(edited, "Fig. 5")["holds"] == "no"


def test_markdown_table_links_every_chapter():
    board = S.board(RECORDS)
    text = S.markdown_table(board)
    lines = text.splitlines()
    assert len(lines) == 2 + len(board)
    for (_, r), line in zip(board.iterrows(), lines[2:]):
        assert line.count(" | ") == 4, line  # a "|" inside a cell is escaped
        assert f"{{doc}}`../chapters/{r['chapter']}`" in line


def test_collect_without_records_and_without_running_names_the_chapters(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVNB_CACHE", str(tmp_path))
    with pytest.raises(LookupError, match="theorem1"):
        S.collect("smoke", chapters=("setup", "theorem1"), run_missing=False)
