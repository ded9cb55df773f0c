"""advnb replicate without running a chapter: options, numbers of a row, verdicts over seeds, the summary's merge.

The records are the smoke build's glued values (``data/scoreboard_smoke_results.json``, as in
test_scoreboard.py), edited so that a claim holds on some seeds and fails on others.
"""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from advnb.book import replicate as R
from advnb.book import scoreboard as S
from advnb.book.runs import UsageError

RESULTS = json.loads((Path(__file__).parent / "data" / "scoreboard_smoke_results.json").read_text())
ADVNB = [sys.executable, "-m", "advnb.book.cli"]


def _records(chapters, edit=None):
    recs = {c: {"results": copy.deepcopy(RESULTS[c])} for c in chapters}
    if edit:
        edit(recs)
    return recs


def test_seeds_and_chapters_are_parsed_and_checked():
    assert R.parse_seeds("0, 1,4") == [0, 1, 4]
    assert R.parse_chapters("theorem2,theorem1") == ["theorem1", "theorem2"]  # the book's order
    assert R.parse_chapters("all") == list(S.CHAPTERS)
    for bad, needle in [("", "at least one seed"), (" , ", "at least one seed"), ("0,x", "whole numbers"),
                        ("1,1", "each once"), ("-1", "each once")]:
        with pytest.raises(UsageError, match=needle):
            R.parse_seeds(bad)
    with pytest.raises(UsageError, match="unknown chapter 'nope'"):
        R.parse_chapters("theorem1,nope")
    with pytest.raises(UsageError, match="unknown chapter 'summary'"):  # results pages are not replicated
        R.parse_chapters("summary")


def test_numbers_of_a_row_are_split_and_spread_over_seeds():
    pieces, values = R.split_numbers("κ = 0.63 at β₅₀ = 2.4 on 3/10 networks (MLP-3), 82%, -1.6e-16, −2")
    assert values == [0.63, 2.4, 3, 10, 3, 82, -1.6e-16, -2]  # MLP-3: a label, read as 3, constant over seeds
    assert pieces[0] == "κ = " and pieces[-1] == ""
    texts = {0: "κ = 0.5 at β = 2 on 3/10", 1: "κ = 0.7 at β = 2 on 1/10", 2: "κ = 0.6 at β = 2 on 2/10",
             3: "β₅₀ not reached; κ = 9"}  # seed 3 reads differently: left out of the spread
    sp = R.spread(texts)
    assert sp["seeds_alike"] == [0, 1, 2]
    assert sp["measured"] == "κ = 0.6 [0.5 … 0.7] at β = 2 on 2 [1 … 3]/10"
    assert [n["index"] for n in sp["numbers"]] == [0, 2]
    assert sp["numbers"][0]["min"] == 0.5 and sp["numbers"][0]["max"] == 0.7 and sp["numbers"][1]["median"] == 2


@pytest.mark.parametrize("verdicts,expected", [
    (["yes", "yes", "yes"], "yes"),
    (["yes", "no", "no"], "partly"),
    (["partly", "partly"], "partly"),
    (["no", "not testable"], "no"),
    (["no", "no"], "no"),
    (["not testable", "not testable"], "not testable"),
    (["not testable", "yes"], "partly"),
])
def test_overall_verdict_rule_both_ways(verdicts, expected):
    assert R.overall(verdicts) == expected


def test_judge_gives_k_of_n_and_a_verdict_that_can_fail():
    def fail_c8(recs):  # seed 2: the adversarial run reverses fewer updates than the vanilla one
        for row in recs["theorem6"]["results"]["osc_summary"]:
            if row["run"] == "adversarial":
                row["share of reversing updates, second half"] = 0.0

    def fail_lemma1(recs):
        recs["lemma1"]["results"]["softmax_min_eig"] = -1.0

    by_seed = {0: _records(["theorem6", "lemma1"]), 1: _records(["theorem6", "lemma1"]),
               2: _records(["theorem6", "lemma1"], lambda r: (fail_c8(r), fail_lemma1(r)))}
    rows = {r["claim"]: r for r in R.judge(by_seed)}
    assert set(rows) == {c.claim for c in S.CLAIMS if c.chapter in ("theorem6", "lemma1")}
    assert rows["C8"]["holds_by_seed"] == {"0": "yes", "1": "yes", "2": "no"}
    assert rows["C8"]["seeds_holding"] == "2/3" and rows["C8"]["verdict"] == "partly"
    assert rows["Lemma 1"]["verdict"] == "partly"
    assert rows["Theorem 6 (identities)"]["verdict"] == "yes" and rows["Theorem 6 (identities)"]["seeds_holding"] == "3/3"
    assert any(n["min"] == 0.0 for n in rows["C8"]["numbers"])  # the failing seed's number is in the spread
    none = R.judge({s: _records(["lemma1"], fail_lemma1) for s in (0, 1)})
    assert none[0]["verdict"] == "no" and none[0]["seeds_holding"] == "0/2"


def test_with_seeds_merges_this_codes_replication_and_marks_a_reference_of_other_code(tmp_path):
    rows = R.judge({s: _records(["lemma1", "theorem1"]) for s in (0, 1, 2)})
    doc = {"profile": "smoke", "seeds": [0, 1, 2], "chapters": ["theorem1", "lemma1"], "commit": "abcdef123456",
           "chapter_keys": R.chapter_keys(["theorem1", "lemma1"], "smoke"), "claims": rows}
    board = S.board(_records(["lemma1", "theorem1"]))
    before = R.with_seeds(board, "smoke", references={})
    assert (before["seeds"] == "1 seed").all() and (before["reference"] == "—").all()
    assert R.seeds_note(before).startswith("one seed") and R.reference_note({}) == "none is kept yet."
    R.save_replication(doc)  # this code's replication, in the test's own $ADVNB_CACHE
    ref = tmp_path / "reference" / "smoke" / "replicate.json"
    ref.parent.mkdir(parents=True)
    stale = dict(doc, chapter_keys={"theorem1": "0" * 20, "lemma1": doc["chapter_keys"]["lemma1"]})
    ref.write_text(json.dumps(stale))
    after = R.with_seeds(board, "smoke", references={"smoke": ref}).set_index("claim")
    assert after.loc["Lemma 1", "seeds"] == "yes on 3/3 seeds"
    assert after.loc["Theorem 1", "seeds"] == "yes on 0/3 seeds (partly on 3)"
    assert after.loc["Theorem 1", "holds"] == "partly" and after.loc["Theorem 1", "holds_one_seed"] == "partly"
    assert after.loc["Lemma 1", "reference"] == "smoke: yes, yes on 3/3 seeds"
    assert after.loc["Theorem 1", "reference"].endswith("from commit abcdef1")
    # another profile's replication is never read
    assert (R.with_seeds(board, "quick", references={})["seeds"] == "1 seed").all()


@pytest.mark.parametrize("args,needle", [
    (["--workers", "0"], "argument --workers"),
    (["--workers", "two"], "argument --workers"),
    (["--seeds", ""], "argument --seeds"),
    (["--seeds", "0,0"], "argument --seeds"),
    (["--chapters", "theorem9"], "argument --chapters"),
    (["--profile", "huge"], "parameter profile"),
    (["--scheduler", "localhost"], "argument --scheduler"),
    (["--scheduler", "tcp://127.0.0.1:9", "--seeds", "0", "--chapters", "lemma1"], "cannot reach tcp://127.0.0.1:9"),
])
def test_replicate_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "out"
    r = subprocess.run([*ADVNB, "replicate", *args, "--output-dir", str(out)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert not out.exists() or not any(p for p in out.rglob("*") if p.is_file())


def test_notes_and_table_show_the_replication():
    rows = R.judge({s: _records(["lemma1"]) for s in (0, 1)})
    R.save_replication({"profile": "smoke", "seeds": [0, 1], "chapters": ["lemma1"], "commit": "c0ffee0",
                        "chapter_keys": R.chapter_keys(["lemma1"], "smoke"), "claims": rows})
    df = R.with_seeds(S.board(_records(["lemma1", "theorem1"])), "smoke", references={})
    assert R.seeds_note(df) == "1 of the 2 rows are replicated over 2 seeds; 1 rest on 1 seed"
    table = S.markdown_table(df)
    assert "yes on 2/2 seeds" in table and "1 seed" in table and "reference runs" not in table


def _replication(tmp_path, name, by_seed, **changes):
    """A replicate.json as ``advnb replicate`` writes it, of ``by_seed`` ({seed: records}), in tmp_path/name."""
    chapters = sorted({c for recs in by_seed.values() for c in recs}, key=list(S.CHAPTERS).index)
    doc = {"profile": "smoke", "device": "cpu", "chapters": chapters, "seeds": sorted(by_seed),
           "chapter_keys": R.chapter_keys(chapters, "smoke"), "commit": f"{name}000000", "dirty": False,
           "date": f"2026-12-0{len(name)}T00:00:00+00:00", "run_seconds": 10.0 * len(by_seed), "wall_time_s": 5.0,
           "runs": [{"chapter": c, "seed": s, "wall_time_s": 10.0, "where": {"executor": "in-process"}}
                    for s in by_seed for c in chapters],
           "claims": R.judge(by_seed), **changes}
    path = tmp_path / name / "replicate.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    return str(path)


def test_merge_judges_the_joined_seeds_as_one_call_would_and_refuses_what_does_not_join(tmp_path):
    def fail_lemma1(recs):
        recs["lemma1"]["results"]["softmax_min_eig"] = -1.0

    def fewer_reversals(recs):  # a number of C8's row that moves, so that the spread is tested too
        for row in recs["theorem6"]["results"]["osc_summary"]:
            if row["run"] == "adversarial":
                row["share of reversing updates, second half"] *= 0.5

    chapters = ["theorem6", "lemma1"]
    by_seed = {0: _records(chapters), 1: _records(chapters, fewer_reversals),
               2: _records(chapters, lambda r: (fail_lemma1(r), fewer_reversals(r)))}
    a = _replication(tmp_path, "a", {s: by_seed[s] for s in (0, 1)}, versions={"torch": "2.14.1", "numpy": "2.0"})
    b = _replication(tmp_path, "bb", {2: by_seed[2]}, versions={"torch": "2.15.0", "numpy": "2.0"})
    res = R.merge([a, b], str(tmp_path / "joined"))
    whole = {r["claim"]: r for r in R.judge(by_seed)}
    assert [r["claim"] for r in res["claims"]] == list(whole)
    for row in res["claims"]:
        for k in ("holds_by_seed", "seeds_holding", "verdict", "verdict_counts", "measured", "numbers"):
            assert row[k] == whole[row["claim"]][k], (row["claim"], k)
    rows = {r["claim"]: r for r in res["claims"]}
    assert rows["Lemma 1"]["verdict"] == "partly" and rows["Lemma 1"]["seeds_holding"] == "2/3"
    assert "[" in rows["C8"]["measured"]  # a number that moves is shown with its spread over the three seeds
    doc = json.loads(Path(res["json"]).read_text())
    assert doc["seeds"] == [0, 1, 2] and doc["run_seconds"] == 30.0 and len(doc["runs"]) == 6
    assert doc["commit"] == "bb000000" and [m["seeds"] for m in doc["merged_from"]] == [[0, 1], [2]]
    assert doc["versions"] == {"numpy": "2.0", "torch": "2.14.1 | 2.15.0"}  # what differed between the parts
    assert doc["executor"] == "in-process: 6 runs" and Path(res["csv"]).exists() and Path(res["plot"]).exists()
    assert R.load_reference(Path(res["json"]))["claims"] == res["claims"]
    assert R.reference_note({"smoke": Path(res["json"])}).endswith(
        "(joined from 2 replications of the same code: seeds 0, 1 at a000000; seeds 2 at bb00000).")
    # what does not join: one line, nothing written
    other_code = _replication(tmp_path, "ccc", {3: by_seed[0]}, chapter_keys={"theorem6": "0" * 20, "lemma1": "1" * 20})
    other_profile = _replication(tmp_path, "dddd", {4: by_seed[0]}, profile="quick")
    (tmp_path / "junk.json").write_text("{}")
    for paths, needle in [([a], "two or more"), ([a, a], "seed 0 is in both"), ([a, other_code], "in its code"),
                          ([a, other_profile], "in its profile"), ([a, str(tmp_path / "junk.json")], "is not a replicate.json"),
                          ([a, str(tmp_path / "none.json")], "is not a replicate.json")]:
        with pytest.raises(UsageError, match=needle):
            R.merge(paths, str(tmp_path / "refused"))
        assert not (tmp_path / "refused").exists()


def test_merge_on_the_command_line_runs_nothing_and_takes_no_run_options(tmp_path):
    a = _replication(tmp_path, "a", {0: _records(["lemma1"])})
    b = _replication(tmp_path, "bb", {1: _records(["lemma1"])})
    out = tmp_path / "out"
    r = subprocess.run([*ADVNB, "replicate", "--merge", a, b, "--seeds", "0,1", "--output-dir", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--seeds has no use with it" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
    r = subprocess.run([*ADVNB, "replicate", "--merge", a, b, "--output-dir", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Lemma 1" in r.stdout and "2/2 seeds" in r.stdout and (out / "replicate.json").exists()
