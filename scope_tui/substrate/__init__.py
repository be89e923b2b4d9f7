"""spawn / wait / poll / kill / redirect / attach / reconcile as one Python API, used by the CLI and the app."""
