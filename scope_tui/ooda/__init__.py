"""The OODA loop at three levels, restart policies, semantic escalation."""
