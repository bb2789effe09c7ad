"""MoE routing analysis (the paper's Appendix A.1) on any Mixtral-based sphinx-x model.

    routers.py         where each decoder layer's router and experts are
    active_experts.py  inference with k active experts per token (A.1.1, Figure 6)
    usage.py           per layer and expert, the share of tokens routed there, by token type (A.1.2, Figure 5)
    pruning.py         keep N experts per layer, at random or by usage (A.1.3, Figure 7)
    inputs.py          what the analyses run the model over: records, a mixture, a benchmark's items
    scoring.py         the scores of one model variant: a benchmark through the eval runner, or the demo's held-out tasks
    sweeps.py          the two sweeps (k, experts kept), their table, JSON and figure
    plots.py           the figures

Everything is applied to a finished model from outside (hooks, attribute changes, sliced tensors):
nothing in `sphinx_x.model` imports this package.
"""
