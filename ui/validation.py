"""The one check that decides whether the draft spec can be trained, shared by the Build and Train pages."""

from __future__ import annotations

from core.spec import ExperimentSpec, SpecError, validate


def spec_problem(spec: ExperimentSpec) -> SpecError | None:
    """The first problem of `spec` (its message, place and fix), or None when it can be trained.

    The Train page disables its Start button with `str(problem)` as the reason; the Build page marks
    `problem.part`, `problem.index` and `problem.argument` in its editors.
    """
    try:
        validate(spec)
    except SpecError as error:
        return error
    return None
