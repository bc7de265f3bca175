"""tools/mutation.py, make mutate's report: reading mutmut's output, and its section of
docs/reliability.md rewritten without touching the rest of the page or what people wrote there."""

from __future__ import annotations

from tools import mutation
from tools.mutation import MODULES, Mutant, Run, Survivor

RESULTS = """\
    avocette.domain.review.x_line_index__mutmut_1: killed
    avocette.domain.review.x_line_index__mutmut_2: survived
    avocette.domain.review.x_dismiss__mutmut_3: timeout
    avocette.domain.review.x_dismiss__mutmut_4: no tests
    avocette.domain.billing.xǁInvoiceǁpayable_cents__mutmut_1: survived
    avocette.domain.billing.x_reflects__mutmut_2: killed
    avocette.domain.billing.xǁInvoiceǁheld_by__mutmut_1: not checked
    avocette.domain.billing.x_credit_id__mutmut_1: survived
"""

SOURCE = '''\
class Invoice:
    def payable_cents(self) -> int:
        """max(0, unpaid)."""
        if self.closed_at is not None:
            return 0
        return max(0, self.unpaid_cents)
'''

DIFF = """\
--- src/avocette/domain/billing.py
+++ src/avocette/domain/billing.py
@@ -2,5 +2,5 @@
     \"\"\"max(0, unpaid).\"\"\"
     if self.closed_at is not None:
         return 0
-    return max(0, self.unpaid_cents)
+    return max(1, self.unpaid_cents)"""

PAGE = """# Reliability

Intro.

## Last soak

| a | b |

## Mutation testing

old figures

#### x.py:6 `avocette.domain.billing.xǁInvoiceǁpayable_cents__mutmut_1` (survived)

```diff
{diff}
```

Equivalent because nothing ever pays a closed invoice.

#### x.py:9 `avocette.domain.billing.x_reflects__mutmut_2` (survived)

```diff
-a
+b
```

Killed by test_reflects once it is written.

#### x.py:12 `avocette.domain.billing.x_reflects__mutmut_3` (survived)

```diff
-c
+d
```

_to explain: equivalent because …, or killed by …_

## Later

kept
"""


def test_results_are_read_by_module_and_billing_only_by_its_payable_rule() -> None:
    everything = mutation.parse_results(RESULTS)
    assert len(everything) == 8
    review = mutation.of_module(MODULES["review"], everything)
    billing = mutation.of_module(MODULES["billing"], everything)
    assert [m.status for m in review] == ["killed", "survived", "timeout", "no tests"]
    assert [m.name.rpartition(".")[2] for m in billing] == ["xǁInvoiceǁpayable_cents__mutmut_1", "x_reflects__mutmut_2"]
    assert mutation.figures(review) == {"mutants": 4, "killed": 1, "timed out": 1, "survived": 1, "other": 1}
    assert mutation.score(review) == 50.0
    assert mutation.score([]) == 0.0


def test_the_patterns_for_mutmut_name_each_module() -> None:
    assert mutation.main(["patterns", "review"]) == 0
    assert MODULES["review"].patterns == ("avocette.domain.review.*",)


def test_a_survivor_is_placed_on_its_changed_line_in_the_source() -> None:
    assert mutation.function_of("avocette.domain.billing.xǁInvoiceǁpayable_cents__mutmut_1") == "payable_cents"
    assert mutation.function_of("avocette.domain.review.x_line_index__mutmut_12") == "line_index"
    assert mutation.changed_line(SOURCE, "payable_cents", DIFF) == 6
    assert mutation.changed_line(SOURCE, "payable_cents", "no removed line") == 2
    assert mutation.changed_line(SOURCE, "elsewhere", DIFF) is None


def _render(survivors: list[Survivor], kept: dict[tuple[str, str], str]) -> str:
    billing = MODULES["billing"]
    mutants = {"billing": [s.mutant for s in survivors]}
    return mutation.render([billing], mutants, survivors, Run(seconds=60, examples=100, jobs=2), kept)


def test_the_section_is_replaced_and_the_rest_of_the_page_kept_with_what_people_wrote() -> None:
    page = PAGE.format(diff=DIFF)
    kept = mutation.explanations(page)
    name = "avocette.domain.billing.xǁInvoiceǁpayable_cents__mutmut_1"
    # What people wrote, each under its survivor; a placeholder is no explanation.
    assert kept == {
        (name, DIFF): "Equivalent because nothing ever pays a closed invoice.",
        ("avocette.domain.billing.x_reflects__mutmut_2", "-a\n+b"): "Killed by test_reflects once it is written.",
    }
    same = Survivor(Mutant(name, "survived"), "x.py:6", DIFF)
    new = mutation.with_section(page, _render([same], kept))
    assert new.startswith("# Reliability\n\nIntro.\n\n## Last soak\n\n| a | b |\n\n## Mutation testing\n")
    assert new.endswith("\n\n## Later\n\nkept\n")
    assert "old figures" not in new
    assert "Equivalent because nothing ever pays a closed invoice." in new
    # Another change under the same name is another mutant: its line is to be written again.
    other = Survivor(Mutant(name, "survived"), "x.py:6", DIFF.replace("max(1", "max(2"))
    assert mutation.TO_EXPLAIN in mutation.with_section(page, _render([other], kept))


def test_the_section_is_added_at_the_end_of_a_page_without_one() -> None:
    page = "# Reliability\n\n## Last soak\n\nfigures\n"
    new = mutation.with_section(page, _render([], {}))
    assert new.startswith(page + "\n## Mutation testing\n")
    assert new.endswith("### Survivors\n\nNone.\n")
    assert mutation.with_section(new, _render([], {})).count("## Mutation testing") == 1


REPEATED = """\
def decide(status):
    if status == 1:
        return Decision(Outcome.DUPLICATE, status)
    if status == 2:
        return Decision(Outcome.DUPLICATE, status)
    return None
"""

SECOND = """\
--- src/avocette/domain/postbacks.py
+++ src/avocette/domain/postbacks.py
@@ -2,4 +2,4 @@
     if status == 1:
         return Decision(Outcome.DUPLICATE, status)
     if status == 2:
-        return Decision(Outcome.DUPLICATE, status)
+        return Decision(Outcome.DUPLICATE, None)"""


def test_a_survivor_whose_line_the_function_holds_twice_is_placed_by_its_diffs_line_numbers() -> None:
    assert mutation.changed_line(REPEATED, "decide", SECOND) == 5
    # Without line numbers, the first line with that text.
    assert mutation.changed_line(REPEATED, "decide", "\n".join(SECOND.splitlines()[3:])) == 3


def test_a_run_of_some_modules_keeps_what_was_written_under_the_other_modules_survivors() -> None:
    review_survivor = "avocette.domain.review.x_dismiss__mutmut_4"
    page = PAGE.format(diff=DIFF).replace(
        "## Later",
        f"#### review.py:3 `{review_survivor}` (survived)\n\n```diff\n-e\n+f\n```\n\n"
        "Equivalent because the status is checked first.\n\n## Later",
    )
    billing = MODULES["billing"]
    elsewhere = mutation.kept_elsewhere(page, [billing])
    assert elsewhere == [
        mutation.Explained(
            "review.py:3", review_survivor, "survived", "-e\n+f", "Equivalent because the status is checked first."
        )
    ]
    # A run of billing alone, in which its explained survivors were killed: review's line is kept.
    new = mutation.with_section(
        page,
        mutation.render([billing], {"billing": []}, [], Run(seconds=1, examples=1, jobs=1), {}, elsewhere=elsewhere),
    )
    assert "Killed by test_reflects" not in new
    assert mutation.explanations(new) == {
        (review_survivor, "-e\n+f"): "Equivalent because the status is checked first."
    }
    # A run of review reads it back and places it under its survivor again.
    again = Survivor(Mutant(review_survivor, "survived"), "review.py:3", "-e\n+f")
    review = MODULES["review"]
    text = mutation.render(
        [review], {"review": [again.mutant]}, [again], Run(seconds=1, examples=1, jobs=1), mutation.explanations(new),
        elsewhere=mutation.kept_elsewhere(new, [review]),
    )  # fmt: skip
    assert "earlier run" not in text
    assert f"#### review.py:3 `{review_survivor}` (survived)\n\n```diff\n-e\n+f\n```\n\nEquivalent because" in text


def test_a_run_of_several_modules_adds_up_their_figures() -> None:
    everything = mutation.parse_results(RESULTS)
    selected = [MODULES["review"], MODULES["billing"]]
    mutants = {module.name: mutation.of_module(module, everything) for module in selected}
    text = mutation.render(selected, mutants, [], Run(seconds=1, examples=1, jobs=1), {})
    assert "\n| all | 6 | 2 | 1 | 2 | 1 | 50.0 % |\n" in text
    assert "| all |" not in mutation.render(selected[:1], mutants, [], Run(seconds=1, examples=1, jobs=1), {})
