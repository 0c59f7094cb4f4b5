"""Spectrum and isotropy of a model's embedding space (methods.md §3).

Same vector sources as IntrinsicDimension (a named text set, or the model's own vector table).
Scores: `rankme` (main; raw Z, eps 1e-7, at most 25,600 rows drawn with the seed), `rankme_no_eps`,
`stable_rank`, `rank`, `participation_ratio`, `alpha_req`, `isoscore`, `average_cosine`.
Sidecar `singular_values`: the raw singular values behind RankMe (the report plots them normalised).
"""
from __future__ import annotations

from . import params as check
from .base import DESCRIPTIVE, ScoreRule, TaskOutput
from .intrinsic_dimension import GeometryTask, source_factories


class SpectrumTask(GeometryTask):
    type = "spectrum"
    main_score = "rankme"
    title = "Spectrum"
    score_rules = (ScoreRule("*", DESCRIPTIVE, 0.01),)   # RankMe, isotropy (descriptive)
    plots = ("tasks.plots.geometry:plot_singular_spectrum",)
    version = 1

    def default_params(self):
        return {"max_rows": 25_600, "eps": 1e-7, "center": False, "batch_size": None}

    def check_params(self) -> None:
        super().check_params()
        check.integer(self, "max_rows", 2, optional=True)
        check.number(self, "eps", 0.0)
        check.flag(self, "center")

    def evaluate(self, model, index=None) -> TaskOutput:
        from .metrics.spectrum import spectrum_metrics
        p = self.params
        Z, rows, info = self.usable_rows(self.vectors(model), p["max_rows"])   # sampled here, with the task seed
        scores, sv = spectrum_metrics(Z[rows], eps=p["eps"], center=p["center"], max_rows=None)
        return TaskOutput(scores=scores, details={**info, "centered": bool(p["center"])},
                          sidecars={"singular_values": sv})


banking77, emotion, scifact, model_vectors = source_factories(SpectrumTask, "Spectrum")
