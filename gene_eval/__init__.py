"""GeneVLM evaluation: gene-level and geometric metrics, the VLM judge, baselines, reports.

Imports ``gene_perception``; never imported by it.
"""
