"""Online GEPA: deviation detection, micro-reflection, patch proposals, approval, Pareto choice of versions."""
