"""One file per webhook provider, each defining `PROVIDER` (see memberflow.ingress.provider)."""
