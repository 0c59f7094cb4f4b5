"""Spectrum and isotropy of a model's embedding space (methods.md §3).

Same vector sources as IntrinsicDimension (a named text set, or the model's own vector table).
Scores: `rankme` (main; raw Z, eps 1e-7, at most 25,600 rows drawn with the seed), `rankme_no_eps`,
`stable_rank`, `rank`, `participation_ratio`, `alpha_req`, `isoscore`, `average_cosine`.
Sidecar `singular_values`: the raw singular values behind RankMe (the report plots them normalised).
"""
from __future__ import annotations


from .base import DESCRIPTIVE, ScoreRule, TaskOutput
from .intrinsic_dimension import MODEL_VECTORS, GeometryTask


class SpectrumTask(GeometryTask):
    type = "spectrum"
    main_score = "rankme"
    title = "Spectrum"
    score_rules = (ScoreRule("*", DESCRIPTIVE, 0.01),)   # RankMe, isotropy (descriptive)
    plots = ("tasks.plots.geometry:plot_singular_spectrum",)
    version = 1

    def default_params(self):
        return {"max_rows": 25_600, "eps": 1e-7, "center": False, "batch_size": None}

    def evaluate(self, model, index=None) -> TaskOutput:
        from .metrics.spectrum import spectrum_metrics
        p = self.params
        Z = self.vectors(model)
        rows, info = self.usable_rows(Z, p["max_rows"])   # sampled here, with the task seed
        scores, sv = spectrum_metrics(Z[rows], eps=p["eps"], center=p["center"], max_rows=None)
        return TaskOutput(scores=scores, details={**info, "centered": bool(p["center"])},
                          sidecars={"singular_values": sv})


def _factory(source: str):
    return lambda: SpectrumTask(f"Spectrum-{source}", source)


banking77 = _factory("Banking77")
emotion = _factory("Emotion")
scifact = _factory("SciFact")
model_vectors = _factory(MODEL_VECTORS)
