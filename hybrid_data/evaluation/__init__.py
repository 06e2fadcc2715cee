"""Evaluation: one training protocol for every cell of the scorecard, repeats, paired bootstrap intervals,
verdicts against real-only, classical baselines and a bias audit. Dagster-free; see docs/evaluation.md."""
