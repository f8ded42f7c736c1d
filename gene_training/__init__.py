"""GeneVLM training side: gene synthesis, rendering to datasets, quantiles, training.

Imports ``gene_perception``; never imported by it.
"""
